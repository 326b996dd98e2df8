"""Every setting of a config dataclass, written once, beside its field: its label (the Configure
form's and the error messages'), help, command-line flag, bounds or choices. The argparse parser, the
Configure form and the configs' own ``validate`` are built from this, so core's limits are the only
limits. Torch-free: the CLI and the app read it at start-up.

    lr: float = setting(3e-3, "learning rate", lo=0, lo_open=True, hi=MAX_LR)

``check_types`` (every field holds its declared type) reads the type hints themselves
(``typing.get_type_hints``), so ``Optional``, unions and ``Literal`` are understood.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from charlm_tui.core.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    label: str  # what the form and the messages call it
    help: str = ""
    lo: float | None = None  # bounds, when it has them
    hi: float | None = None
    lo_open: bool = False  # the bound itself excluded
    hi_open: bool = False
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None
    flag: str | None = ""  # "" = derived from the name (--max-steps); None = not on the command line
    form: bool = True  # on the Configure form (a text box, a drop-down or a checkbox)
    internal: str = ""  # why neither the CLI nor the form sets it (then flag is None and form False)
    form_label: str = ""  # the form's shorter label, or its label in other units (max seconds: "max minutes")
    form_scale: float = 1.0  # form value = value / form_scale
    neutral: Any = None  # a sampling filter: the value that turns it off (the sampler's fast path needs all off)
    off: Any = None  # the value that means "never" (LR patience): typed and shown as "off"

    def options(self) -> tuple[str, ...] | None:
        return self.choices() if callable(self.choices) else self.choices

    def problem(self, v: Any) -> str | None:
        """Why ``v`` is out of bounds or not a choice (None if it is fine; None is fine for an
        optional field, whose type check comes first)."""
        if v is None:
            return None
        opts = self.options()
        if opts is not None:
            return None if v in opts else f"{self.label} must be {either(opts)}, got {v!r}"
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        lo_bad = self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo))
        hi_bad = self.hi is not None and (v > self.hi or (self.hi_open and v == self.hi))
        if lo_bad or hi_bad:
            return f"{self.label} must be {self.range_text(isinstance(v, int))}, got {number(v)}"
        return None

    def range_text(self, whole: bool = False) -> str:
        lo, hi = self.lo, self.hi
        if lo is not None and hi is not None:
            if self.lo_open and not self.hi_open:
                return f"above {number(lo)} and at most {number(hi)}"
            if self.lo_open or self.hi_open:
                return f"in {'(' if self.lo_open else '['}{number(lo)}, {number(hi)}{')' if self.hi_open else ']'}"
            return f"between {number(lo)} and {number(hi)}"
        if lo is not None:
            return f"above {number(lo)}" if self.lo_open else f"at least {number(lo)}"
        if hi is not None:
            return f"below {number(hi)}" if self.hi_open else f"at most {number(hi)}"
        return "any number"


def shown(s: Setting, v: Any) -> str:
    """A value as the form shows it and parse_text reads it back: "off" for a setting's "never"."""
    if s.off is not None and v == s.off:
        return "off"
    return "" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def number(v: float) -> str:
    """1,000 for whole numbers and 0.003 or 1e+12 for the rest."""
    if isinstance(v, int):
        return f"{v:,}"
    if v.is_integer() and abs(v) < 1e6:
        return f"{int(v):,}"
    return f"{v:g}"


def either(options: tuple[str, ...]) -> str:
    """'auto, fp32 or bf16'."""
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]


def setting(default: Any, label: str, **kw) -> Any:
    """A dataclass field with its Setting (use as the field's default)."""
    return field(default=default, metadata={"setting": Setting(label, **kw)})


def settings_of(cls) -> dict[str, Setting]:
    """Each field of a config dataclass and its Setting (a field without one: its name, no bounds)."""
    return {f.name: f.metadata.get("setting") or Setting(f.name.replace("_", " ")) for f in dataclasses.fields(cls)}


def flag_of(name: str, s: Setting) -> str | None:
    return None if s.flag is None else (s.flag or "--" + name.replace("_", "-"))


def field_types(cls) -> dict[str, Any]:
    """The fields' real types (the annotations are strings under ``from __future__ import annotations``)."""
    return typing.get_type_hints(cls)


def _holds(v: Any, t: Any) -> bool:
    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        return any(_holds(v, a) for a in typing.get_args(t))
    if origin is typing.Literal:
        return v in typing.get_args(t)
    if t is type(None):
        return v is None
    if t is bool:
        return isinstance(v, bool)
    if t is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if t is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if t is str:
        return isinstance(v, str)
    if origin is tuple:
        args = typing.get_args(t)
        if len(args) == 2 and args[1] is Ellipsis:
            return isinstance(v, tuple) and all(_holds(x, args[0]) for x in v)
        return isinstance(v, tuple) and len(v) == len(args) and all(_holds(x, a) for x, a in zip(v, args))
    return isinstance(v, origin or t)


def _kind(t: Any) -> str:
    """What a value of type ``t`` is, in words: 'a whole number or none', 'x or y', 'a tuple of text'."""
    names = {int: "a whole number", float: "a number", str: "text", bool: "true or false", type(None): "none"}
    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_kind(a) for a in typing.get_args(t))
    if origin is typing.Literal:
        return either(tuple(repr(a) for a in typing.get_args(t)))
    if origin is tuple:
        return "a tuple of " + _kind(typing.get_args(t)[0]).removeprefix("a ")
    return names.get(t, getattr(t, "__name__", str(t)))


def check_types(cfg) -> None:
    """Each field of a config dataclass holds its declared type (a JSON file or a form may hold
    anything): whole numbers are ints (not bools), numbers are finite, Optional allows None."""
    hints = field_types(type(cfg))
    labels = settings_of(type(cfg))
    for f in dataclasses.fields(cfg):
        v, t = getattr(cfg, f.name), hints[f.name]
        if not _holds(v, t):
            raise ConfigError(f"{labels[f.name].label} must be {_kind(t)}, got {v!r}"[:160])


def bound_problems(cfg) -> list[str]:
    """Every field out of its Setting's bounds or choices."""
    out = []
    for name, s in settings_of(type(cfg)).items():
        p = s.problem(getattr(cfg, name))
        if p:
            out.append(p)
    return out


def parse_text(cls, name: str, text: str) -> Any:
    """A setting typed as text (a command-line argument, a form field) as its field's type, within
    its bounds; ValueError with the message otherwise."""
    s, t = settings_of(cls)[name], field_types(cls)[name]
    base = [a for a in typing.get_args(t) if a is not type(None)] or [t]
    kind = base[0]
    text = text.strip()
    if s.off is not None and text.lower() == "off":
        return s.off
    if kind is int:
        try:
            v: Any = int(text)
        except ValueError:
            raise ValueError(f"{s.label}: expected a whole number, got {text!r}") from None
    elif kind is float:
        try:
            v = float(text)
        except ValueError:
            raise ValueError(f"{s.label}: expected a number, got {text!r}") from None
        if not math.isfinite(v):
            raise ValueError(f"{s.label}: expected a finite number, got {text!r}")
    else:
        v = text
    problem = s.problem(v)
    if problem:
        raise ValueError(problem)
    return v
