"""How numbers, durations and settings read on screen and on the command line: the one place the app,
the CLI and the engine's messages format them (the engine returns data; whoever shows it formats it)."""

from __future__ import annotations

import math


def number(v: float | int | None, spec: str) -> str:
    """``format(v, spec)``, or '-' where there is no value yet (None, NaN); an infinite value reads
    'inf' and a huge one (a diverged model's perplexity) in three significant digits, '1.2e+32',
    never as a 33-digit number."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if isinstance(v, float) and abs(v) >= 1e6:
        return format(v, ".3g")
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


# Text from outside (a corpus, what a model generates, a file name, a hand-edited run file) may hold
# characters that act on a terminal instead of showing: ESC starts sequences that move the cursor,
# clear the screen, set the window title or the clipboard (OSC 52); C1 controls (U+0080-U+009F) do
# the same on terminals that read them; bidi overrides reorder what is shown. On screen each becomes
# a visible stand-in: a C0 control its Unicode control picture (ESC -> U+241B), DEL U+2421, C1 and
# bidi controls U+FFFD. Newline and tab stay (a tab only moves the cursor right); a carriage return
# is dropped (a CRLF text shows as its lines, as in an editor).
_BIDI = (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
_PRINTABLE = {
    **{c: 0x2400 + c for c in range(0x20) if c not in (0x09, 0x0A)},
    0x0D: None,
    0x7F: 0x2421,
    **{c: 0xFFFD for c in (*range(0x80, 0xA0), *_BIDI)},
}
# the same characters, for removing what slipped past (tui.terminal_guard): none takes a cell
TERMINAL_CONTROLS = "[\x00-\x1f\x7f-\x9f" + "".join(chr(c) for c in _BIDI) + "]"


def printable(text: str, tab_size: int | None = None) -> str:
    """``text`` with every character that would act on a terminal replaced by a visible stand-in
    (see above); with ``tab_size``, tabs expanded to spaces too (for a pane that lays text out)."""
    if tab_size is not None:
        text = text.expandtabs(tab_size)
    return text.translate(_PRINTABLE)
