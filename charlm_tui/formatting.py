"""How numbers, durations and settings read on screen and on the command line: the one place the app,
the CLI and the engine's messages format them (the engine returns data; whoever shows it formats it)."""

from __future__ import annotations

import math


def number(v: float | int | None, spec: str) -> str:
    """``format(v, spec)``, or '-' where there is no value yet (None, NaN)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def duration(seconds: float | None) -> str:
    """'4m07s', '1h05m'; '?' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def short_duration(seconds: float) -> str:
    """'30s', '4.5s' under a minute; else as ``duration``."""
    return f"{seconds:.3g}s" if seconds < 60 else duration(seconds)


def count(n: int, what: str) -> str:
    """'1 step', '1,200 steps'."""
    return f"{n:,} {what}" + ("" if n == 1 else "s")


def setting(value) -> str:
    """A configuration value in a comparison table: floats short ('0.003'), None as '-'."""
    if isinstance(value, float):
        return f"{value:g}"
    return "-" if value is None else str(value)


def another_round(rnd) -> str:
    """Why a resumed run trains more, from a ``core.training.budget.Round``."""
    if rnd.limit == "seconds":
        return f"it had used its time budget; training {short_duration(rnd.size)} more"
    if rnd.limit == "steps":
        return f"it had reached its step limit; training {count(rnd.size, 'more step')}"
    if rnd.limit == "epochs":
        return f"it had reached its epoch limit; training {count(rnd.size, 'more epoch')}"
    return f"it had stopped early; its patience starts again ({rnd.size} evaluations)"
