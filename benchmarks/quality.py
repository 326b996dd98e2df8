"""Quality at a time budget: validation NLL, bits/char and perplexity after --seconds of training,
for the tutorial's own loop (../shared/bench/seed_loop.py, run as a subprocess in this invocation,
evaluated once at the end) and for the project's preset (Trainer with evaluation, LR schedule and
early stopping inside the budget, in the precision auto picks here). Same text, same positional
90/10 split. Printed with the CPU model, its bf16 flags and the precision chosen.

    python -m benchmarks.quality [--seconds 300] [--corpus PATH|NAME] [--preset default] [--skip-baseline]
                                 [--set KEY=VALUE ...]   (override a preset value, e.g. --set lr=5e-3)

The corpus defaults to ../shared/corpora/tinyshakespeare.txt when present, else python-docs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from benchmarks.machine import machine_info
from benchmarks.throughput import SEED_LOOP, run_seed_loop
from charlm_tui.core.config import PRESETS, ModelConfig, TrainConfig
from charlm_tui.core.training.jobs import new_job

REPO = Path(__file__).resolve().parents[1]
SHAKESPEARE = REPO.parent / "shared" / "corpora" / "tinyshakespeare.txt"


def baseline(text_file: Path, seconds: float) -> dict:
    """The tutorial's loop on ``text_file`` for ``seconds`` (its own defaults), evaluated at the end."""
    r = run_seed_loop(text_file, seconds)
    return {k: r[k] for k in ("val_nll", "val_bpc", "val_ppl", "train_chars_per_s", "steps") if k in r}


def _value(raw: str):
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return None if raw == "none" else raw


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--corpus", default=str(SHAKESPEARE) if SHAKESPEARE.exists() else "python-docs")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a model or training value of the preset (repeatable)",
    )
    args = ap.parse_args()
    mk, tk = (dict(d) for d in PRESETS[args.preset])
    for item in args.set:
        key, _, raw = item.partition("=")
        target = mk if key in ModelConfig.__dataclass_fields__ else tk
        target[key] = _value(raw)
    if not args.skip_baseline and not SEED_LOOP.is_file():
        sys.exit(f"the baseline {SEED_LOOP} is missing (or pass --skip-baseline)")
    with tempfile.TemporaryDirectory() as home:
        job = new_job(Path(home), args.corpus, mk, replace(TrainConfig(**tk), max_seconds=args.seconds))
        final = job.start()
        corpus = job.corpus
        text_file = Path(args.corpus)
        if not text_file.is_file():  # a built-in corpus: the same text, as a file for the tutorial's loop
            text_file = Path(home) / f"{corpus.name}.txt"
            text_file.write_text(corpus.vocab.decode(corpus.ids.tolist()), encoding="utf-8")
        b = None if args.skip_baseline else baseline(text_file, args.seconds)
    out = {
        "benchmark": "quality",
        **machine_info(),
        "precision": job.trainer.precision.to_json(),
        "corpus": corpus.name,
        "seconds": args.seconds,
        "preset": args.preset,
        "overrides": args.set,
        "preset_val_nll": final.best_val_nll,
        "preset_val_bpc": final.best_val_bpc,
        "preset_val_ppl": final.best_val_ppl,
        "preset_steps": final.step,
        "preset_chars_per_s": final.chars_per_s,
    }
    if b is not None:
        out.update({f"tutorial_loop_{k}": v for k, v in b.items()})
        out["nll_gain_nats"] = b["val_nll"] - final.best_val_nll
    print(json.dumps(out))


if __name__ == "__main__":
    main()
