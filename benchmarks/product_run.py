"""One JSON line for a finished product run (`charlm-tui train ...`): what it was asked, what fit to
budget chose, what it reached, and the machine. The 30-minute comparisons of README "Performance"
(fit to budget against the default preset) are product runs, not sweep runs: this keeps their raw
figures beside the sweep's in ``benchmarks/results/``.

    python -m benchmarks.product_run RUN_DIR --tag fitted --threads 2 [--out FILE]

The run's own files say what it did (config.json, metrics.jsonl, status.json); the machine is the
one this runs on, so record a run on the machine that trained it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from benchmarks.machine import machine_info


def summary(run_dir: Path) -> dict:
    config = json.loads((run_dir / "config.json").read_text())
    status = json.loads((run_dir / "status.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"{run_dir}: no evaluations in metrics.jsonl")
    best = min(rows, key=lambda r: r["val_nll"])
    corpus = config.get("corpus", {})
    return {
        "run": run_dir.name,
        "corpus": corpus.get("name"),
        "corpus_chars": corpus.get("chars"),
        "corpus_sha256": corpus.get("sha256"),
        "model": config.get("model"),
        "train": config.get("train"),
        "sizing": config.get("sizing"),
        "precision": (config.get("precision") or {}).get("used"),
        "steps": status.get("steps"),
        "epochs": status.get("epoch"),
        "stop": status.get("reason"),
        "elapsed_s": rows[-1].get("elapsed"),
        "chars_per_s_median": round(statistics.median(r["chars_per_s"] for r in rows if r.get("chars_per_s")), 1),
        "best_val_nll": round(best["val_nll"], 5),
        "best_at_step": best["step"],
        "last_val_nll": round(rows[-1]["val_nll"], 5),
        "last_train_loss": round(rows[-1]["train_loss"], 5),
        "curve": [[r["step"], round(r["val_nll"], 4), round(r["train_loss"], 4)] for r in rows],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--tag", required=True, help="what the run stands for, e.g. fitted or default-preset")
    ap.add_argument("--threads", type=int, required=True, help="the torch threads the run trained with")
    ap.add_argument("--note", default="", help="anything that shared the machine, or differed")
    ap.add_argument("--out", type=Path, help="append the line here (else print it)")
    args = ap.parse_args(argv)
    line = {"benchmark": "product_run", "tag": args.tag, **summary(args.run_dir)}
    line["machine"] = {**machine_info(), "torch_threads": args.threads}
    if args.note:
        line["note"] = args.note
    text = json.dumps(line)
    if args.out:
        with args.out.open("a") as f:
            f.write(text + "\n")
    print(text if not args.out else f"{args.out}: {line['tag']} {line['corpus']} best {line['best_val_nll']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
