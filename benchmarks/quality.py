"""Validation NLL, bits/char and perplexity of the default config after a time budget.

    python benchmarks/quality.py --seconds 300 [--corpus python-docs]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from charlm_tui.core.config import PRESETS, TrainConfig
from charlm_tui.core.jobs import new_job


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--corpus", default="python-docs")
    ap.add_argument("--preset", default="default")
    args = ap.parse_args()
    mk, tk = PRESETS[args.preset]
    cfg = TrainConfig(**{**tk, "max_seconds": args.seconds})
    with tempfile.TemporaryDirectory() as home:
        job = new_job(Path(home), args.corpus, mk, cfg)
        final = job.start()
    print(json.dumps({"benchmark": "quality", "corpus": args.corpus, "preset": args.preset, "seconds": args.seconds,
                      "steps": final.step, "val_nll": final.best_val_nll, "val_bpc": final.best_val_bpc,
                      "val_ppl": final.best_val_ppl, "train_chars_per_s": final.chars_per_s,
                      "model": mk, "train": {k: v for k, v in tk.items() if k != "max_seconds"}}))


if __name__ == "__main__":
    main()
