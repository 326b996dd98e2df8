"""How long fit to budget takes to choose: cold (an empty cache: it times a few shapes) and warm
(the same question again: nothing is timed), and what it chooses, for budgets and corpus sizes
of the sizing sweep, at the precision auto picks and with fp32 forced. Printed with the CPU
model and flags; the machine should be otherwise idle (the measurement says when it was not:
a speed marked 'spoiled' was taken while other work loaded it, and is not cached).

    python -m benchmarks.fit_time [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.machine import machine_info
from charlm_tui.core.training.fit import fit_to_budget

CASES = [  # (corpus, training characters, vocabulary)
    ("tiny Shakespeare", 1_003_854, 66),
    ("python-docs", 418_543, 104),
    ("python-code 12 MB", 10_665_028, 223),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budgets", default="300,1800,7200")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for precision in ("auto", "fp32"):
        for name, chars, vocab in CASES:
            cache = Path(tempfile.mkdtemp())
            for budget in (float(b) for b in args.budgets.split(",")):
                t0 = time.perf_counter()
                c = fit_to_budget(budget, vocab, chars, precision, "cpu", cache)
                cold = time.perf_counter() - t0
                t0 = time.perf_counter()
                fit_to_budget(budget, vocab, chars, precision, "cpu", cache)
                warm = time.perf_counter() - t0
                rows.append(
                    {
                        "precision": precision,
                        "corpus": name,
                        "budget_s": budget,
                        "seconds_first": round(cold, 2),
                        "seconds_again": round(warm, 3),
                        "timed": [k for k, v in c.speeds.items() if v.source in ("measured", "spoiled")],
                        "spoiled": [k for k, v in c.speeds.items() if v.source == "spoiled"],
                        "reason": c.reason(),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"machine": machine_info()}))


if __name__ == "__main__":
    main()
