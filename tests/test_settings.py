"""Every setting written once (core.settings): each field of the model and training configs is
settable from the command line and from the Configure screen, or is listed as internal with the
reason; the parser's bounds are core's; the type check reads the real type hints."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Literal

import pytest

from charlm_tui.cli.parser import build_parser
from charlm_tui.core.config import ModelConfig, TrainConfig
from charlm_tui.core.errors import ConfigError
from charlm_tui.core.settings import check_types, field_types, flag_of, settings_of
from charlm_tui.tui.app import make_app
from charlm_tui.tui.screens.configure import FIELDS

CONFIGS = (ModelConfig, TrainConfig)


def train_options() -> dict[str, argparse.Action]:
    train = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    return {s: a for a in train._actions for s in a.option_strings}


def test_every_field_is_settable_from_the_cli_or_says_why_not():
    options = train_options()
    for cls in CONFIGS:
        for name, s in settings_of(cls).items():
            if s.internal:
                assert flag_of(name, s) is None and not s.form, name  # internal means neither
                continue
            flag = flag_of(name, s)
            assert flag in options and options[flag].dest == name, f"{cls.__name__}.{name}: no {flag}"


async def test_every_field_is_settable_from_the_configure_screen_or_says_why_not(home):
    form_ids = {ff.name: fid for fid, ff in FIELDS.items()}
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f3")
        await pilot.pause(0.3)
        assert app.current_mode == "configure"
        for cls in CONFIGS:
            for name, s in settings_of(cls).items():
                if s.internal:
                    continue
                widget_id = form_ids.get(name, name)
                assert app.screen.query(f"#{widget_id}"), f"{cls.__name__}.{name}: nothing on the form sets it"


def _probes(s) -> list[float]:
    out = []
    for b in (s.lo, s.hi):
        if b is not None:
            step = max(abs(b) * 1e-6, 1e-9)
            out += [b - step, b, b + step]
    return out or [0.0, 1.0]


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_the_parsers_bounds_are_cores(cls):
    """At each bound and just past it, the parser accepts exactly what the config's validate does."""
    options = train_options()
    types_ = field_types(cls)
    base = {"vocab_size": 10} if cls is ModelConfig else {}
    for name, s in settings_of(cls).items():
        flag = flag_of(name, s)
        if flag is None or s.options() is not None or types_[name] is bool:
            continue
        whole = types_[name] is int or int in getattr(types_[name], "__args__", ())
        for v in _probes(s):
            value = math.ceil(v) if whole and v > (s.lo or -math.inf) else math.floor(v) if whole else v
            try:
                cls(**{**base, name: value}).validate()
                core_ok = True
            except ConfigError:
                core_ok = False
            try:
                options[flag].type(repr(value) if not whole else str(value))
                parser_ok = True
            except argparse.ArgumentTypeError:
                parser_ok = False
            assert parser_ok == core_ok, (name, value, parser_ok, core_ok)


def test_a_setting_with_an_off_value_is_typed_and_shown_as_off():
    """LR patience's "never" (fit to budget's cosine alone) reads "off" on the form and the command
    line, not a million; any other value is itself."""
    from charlm_tui.core.config import LR_PATIENCE_OFF
    from charlm_tui.core.settings import parse_text, shown

    s = settings_of(TrainConfig)["lr_patience"]
    assert parse_text(TrainConfig, "lr_patience", "off") == LR_PATIENCE_OFF
    assert parse_text(TrainConfig, "lr_patience", " OFF ") == LR_PATIENCE_OFF
    assert parse_text(TrainConfig, "lr_patience", "3") == 3
    assert shown(s, LR_PATIENCE_OFF) == "off" and shown(s, 3) == "3"
    assert train_options()["--lr-patience"].type("off") == LR_PATIENCE_OFF
    assert shown(settings_of(ModelConfig)["dropout"], 0.25) == "0.25" and shown(s, None) == ""
    with pytest.raises(ValueError, match="expected a whole number"):
        parse_text(TrainConfig, "patience", "off")  # only a setting that has an "off" takes it


def test_check_types_reads_optional_unions_and_literals():
    @dataclass
    class C:
        a: int | None = None
        b: Literal["x", "y"] = "x"
        c: float = 1.0
        d: tuple[str, ...] = ()

    check_types(C(a=None, b="y", c=2, d=("s",)))
    for bad, says in ((C(a=True), "a whole number"), (C(b="z"), "got 'z'"), (C(c=math.nan), "a number"),
                      (C(d=("s", 1)), r"a tuple of text, got \('s', 1\)")):  # fmt: skip
        with pytest.raises(ConfigError, match=says):
            check_types(bad)
    with pytest.raises(ConfigError, match="max steps must be a whole number or none, got 2.5"):
        TrainConfig(max_steps=2.5).validate()  # type: ignore[arg-type]


def test_every_sampling_control_is_settable_from_sample_and_the_generate_line():
    from charlm_tui.core.config import SamplingControl
    from charlm_tui.tui.controllers.generation import CONTROL_FIELDS, SETTINGS

    sample = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["sample"]
    options = {s: a for a in sample._actions for s in a.option_strings}
    on_the_line = set(CONTROL_FIELDS.values()) | {"stop"}  # stop: typed with ctrl+t, walked with PgUp/PgDn
    assert {name for name, _ in SETTINGS} >= set(CONTROL_FIELDS)
    for name, s in settings_of(SamplingControl).items():
        flag = flag_of(name, s) or "--" + name  # stop's flag is written by hand (repeatable)
        assert flag in options, f"sample has no {flag}"
        assert name in on_the_line, f"the Generate settings line cannot set {name}"
    # the fast path follows the settings: every setting with a neutral value is a filter it checks
    for name, s in settings_of(SamplingControl).items():
        if s.neutral is not None:
            lo = s.lo if s.lo is not None and not s.lo_open else (s.lo or 0) + 0.5
            other = lo if lo != s.neutral else (s.hi if s.hi is not None and not s.hi_open else 0.5)
            assert not SamplingControl(**{name: other}).neutral_filters, name
    assert SamplingControl().neutral_filters
