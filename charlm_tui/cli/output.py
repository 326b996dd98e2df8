"""What the command prints: training lines, run rows, and output that survives its reader going away."""

from __future__ import annotations

import os
import sys

from charlm_tui import formatting
from charlm_tui.cli.parser import PROG


def format_eval(ev) -> str:
    return (
        f"step {ev.step:>6}  epoch {ev.epoch:6.2f}  train {ev.train_loss or float('nan'):.4f}  "
        f"val nll {ev.val_nll:.4f} ppl {formatting.number(ev.val_ppl, '.3f')} bpc {formatting.number(ev.val_bpc, '.3f')}  lr {ev.lr:.2e}  "
        f"{(ev.chars_per_s or 0) / 1000:.1f}k chars/s  elapsed {formatting.duration(ev.elapsed)}"
    )


def say(line: str) -> None:
    """Print a line of training output. When whoever reads it goes away (``train ... | head -1``),
    the training goes on: the rest of the output is dropped, with one note on stderr."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # later writes, and the flush at exit, go nowhere
        os.close(devnull)
        try:
            print(f"{PROG}: output closed; training goes on (follow it with '{PROG} watch')", file=sys.stderr)
        except OSError:
            pass
