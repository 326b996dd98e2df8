"""The command line: its parser and the checks on each argument (bad input: one line, exit 2)."""

from __future__ import annotations

import argparse
import math
import sys
import typing

from charlm_tui import __version__
from charlm_tui.core.config import DEFAULT_PRESET, PRESET_NAMES, ModelConfig, SamplingControl, TrainConfig

PROG = "charlm-tui"


class Parser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr, exit 2."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def _whole(s: str, lo: float, hi: float, out_of_range: str, what: str = "a whole number") -> int:
    """An int argument in [lo, hi]; ``out_of_range`` is the message, with ``{v}`` for the value."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}") from None
    if not lo <= v <= hi:
        raise argparse.ArgumentTypeError(out_of_range.format(v=v))
    return v


def _positive_int(s: str) -> int:
    return _whole(s, 1, math.inf, "must be at least 1, got {v}")


def _seed(s: str) -> int:
    from charlm_tui.core.config import MAX_SEED

    return _whole(s, 0, MAX_SEED, f"a seed is between 0 and {MAX_SEED}, got {{v}}")


def _stop(s: str) -> str:
    from charlm_tui.core.config import STOP_MAX_CHARS, stop_from_text

    v = stop_from_text(s)
    if not 1 <= len(v) <= STOP_MAX_CHARS:
        raise argparse.ArgumentTypeError(f"a stop string is 1 to {STOP_MAX_CHARS} characters, got {s!r}")
    return v


def _duration(s: str) -> float:
    from charlm_tui.core.errors import ConfigError
    from charlm_tui.core.sizing import parse_duration

    try:
        return parse_duration(s)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _unit(s: str) -> tuple[int, int]:
    layer, sep, index = s.partition(":")
    if not sep or not layer.isdigit() or not index.isdigit():
        raise argparse.ArgumentTypeError(f"a unit is LAYER:INDEX, e.g. 1:117, got {s!r}")
    return int(layer), int(index)


def _port(s: str) -> int:
    return _whole(s, 1, 65535, "a port is between 1 and 65535, got {v}", "a port number")


def _float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {s!r}")
    return v


def add_settings(group, cls) -> None:
    """One option per setting of ``cls`` that has a flag; a bound or choice is checked as core checks it."""
    from charlm_tui.core.settings import field_types, flag_of, parse_text, settings_of

    types_ = field_types(cls)
    for name, s in settings_of(cls).items():
        flag = flag_of(name, s)
        if flag is None:
            continue
        if types_[name] is bool:  # a switch: --log-to tensorboard
            group.add_argument(flag, dest=name, choices=[name], action="append", help=s.help or None)
            continue
        opts = s.options()
        if opts is not None:
            group.add_argument(flag, dest=name, choices=list(opts), help=s.help or None)
            continue

        def parse(text: str, name: str = name) -> object:
            try:
                return parse_text(cls, name, text)
            except ValueError as e:
                raise argparse.ArgumentTypeError(str(e)) from None

        parse.__name__ = s.label  # argparse names the type in its messages
        whole = int in typing.get_args(types_[name]) or types_[name] is int
        group.add_argument(flag, dest=name, type=parse, metavar="N" if whole else "F", help=s.help or None)


def _add_home(p: argparse.ArgumentParser, top: bool = False) -> None:
    # subcommands suppress their default so a --home given before the subcommand survives
    p.add_argument(
        "--home",
        metavar="DIR",
        default=None if top else argparse.SUPPRESS,
        help="data dir (default: $CHARLM_TUI_HOME or the user data dir)",
    )


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Train character-level language models and play with them. "
        "With no arguments, opens the terminal app.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_home(parser, top=True)
    parser.add_argument("--no-mouse", action="store_true", help="TUI: do not capture the mouse")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model (headless)")
    t.add_argument("corpus", nargs="?", help="built-in corpus name, file, folder, folder glob or URL")
    t.add_argument("--resume", metavar="RUN", help="continue a run from its last saved state")
    t.add_argument(
        "--init-from",
        metavar="RUN",
        help="fine-tune: a new run on CORPUS starting from RUN's best weights (its shape; the vocabularies joined)",
    )
    t.add_argument("--last", action="store_true", help="with --init-from: start from RUN's latest weights")
    _add_home(t)
    t.add_argument(
        "--preset",
        choices=list(PRESET_NAMES),
        help=f"the preset a new run starts from (default: {DEFAULT_PRESET}: the model sized to the budget, the corpus "
        "and this machine's measured speed, as in the app); options given as well override it",
    )
    t.add_argument(
        "--budget",
        type=_duration,
        metavar="TIME",
        help="the time to train, e.g. 90s, 30m or 2h (the model is fitted to it unless --preset names a fixed one)",
    )
    # every setting of the model and training configs, from the settings beside their fields
    # (core.settings): the flags, help, choices and bounds are core's own
    add_settings(t.add_argument_group("model"), ModelConfig)
    add_settings(t.add_argument_group("training"), TrainConfig)
    c = t.add_argument_group("corpus decoding")
    c.add_argument("--encoding", default="utf-8")
    c.add_argument("--normalize", choices=["NFC", "NFD", "NFKC", "NFKD"])
    c.add_argument("--lower", action="store_true", help="lower-case the text")
    t.add_argument("--json", action="store_true", help="one JSON object per evaluation, then a summary")
    t.add_argument("--quiet", action="store_true", help="no sample of the model after each evaluation")
    t.add_argument(
        "--detach", action="store_true", help="train in a background process that outlives the terminal (SSH-safe)"
    )
    t.add_argument("--run-id", help=argparse.SUPPRESS)
    # what --resume named, resolved by the process that detached this one ("latest" once, not twice)
    t.add_argument("--resume-id", help=argparse.SUPPRESS)

    w = sub.add_parser("watch", help="print a run's evaluations as they happen (any terminal)")
    w.add_argument("run")
    w.add_argument("--json", action="store_true")
    _add_home(w)

    v = sub.add_parser("serve", help="serve the app in a web browser (textual-serve)")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=_port, default=8000)
    v.add_argument("--public", action="store_true", help="allow a non-loopback --host (no authentication!)")
    _add_home(v)

    s = sub.add_parser("sample", help="generate text from a run")
    s.add_argument("run", help="run id, unique prefix, or 'latest'")
    given = s.add_mutually_exclusive_group()
    given.add_argument("--prompt", default="", help="text that warms up the model")
    given.add_argument(
        "--prompt-file",
        metavar="FILE",
        help="the prompt from a UTF-8 file ('-': standard input), as nanoGPT's start=FILE:",
    )
    s.add_argument("--length", type=_positive_int, default=500)
    # the sampling controls, from the settings beside their fields (core.settings), with core's bounds
    add_settings(s.add_argument_group("sampling"), SamplingControl)
    s.add_argument(
        "--stop",
        type=_stop,
        action="append",
        default=[],
        help="end the text where this appears (repeatable; \\n is a newline: '\\n\\n' = a blank line)",
    )
    s.add_argument(
        "--seed", type=_seed, help="the same seed and settings give the same text (default: a new one, shown)"
    )
    how = s.add_mutually_exclusive_group()
    how.add_argument(
        "--best-of",
        type=lambda v: _whole(v, 1, 64, "best-of is 1 to 64, got {v}"),
        help="draw N continuations side by side and print them ranked by the model's mean log-probability",
    )
    how.add_argument(
        "--beam",
        type=lambda v: _whole(v, 1, 64, "the beam width is 1 to 64, got {v}"),
        help="beam search of width W: the likeliest continuation the search finds (ignores temperature and filters)",
    )
    s.add_argument("--last", action="store_true", help="use the latest weights instead of the best")
    _add_home(s)

    x = sub.add_parser("export", help="write a run's model as ONNX (one-character step) with its vocabulary")
    x.add_argument("run", help="run id, unique prefix, or 'latest'")
    x.add_argument("--weights", choices=["best", "last"], default="best")
    x.add_argument("--out", help="the .onnx file to write (default: RUN-WEIGHTS.onnx here); a .json goes beside it")
    _add_home(x)

    e = sub.add_parser("eval", help="validation NLL, bits/char and perplexity of a run")
    e.add_argument("run")
    e.add_argument("--corpus", help="evaluate on this whole corpus instead of the run's validation split")
    e.add_argument("--last", action="store_true")
    e.add_argument("--json", action="store_true")
    _add_home(e)

    i = sub.add_parser(
        "inspect",
        help="look inside a run: the bits it pays for each character, what a hidden unit tracks (terminal, JSON, HTML)",
    )
    i.add_argument("run")
    i.add_argument(
        "--text", metavar="FILE", help="inspect this UTF-8 file ('-': standard input) instead of the validation text"
    )
    which = i.add_mutually_exclusive_group()
    which.add_argument("--unit", type=_unit, metavar="L:I", help="colour by hidden unit I of layer L (from 0)")
    which.add_argument("--discover", action="store_true", help="rank every unit by how well it tracks simple features")
    i.add_argument("--html", metavar="OUT.html", help="also write a self-contained page with the same pictures")
    i.add_argument("--json", action="store_true", help="the per-character values as JSON")
    i.add_argument("--chars", type=_positive_int, default=2000, help="characters shown in the terminal (default 2000)")
    i.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    i.add_argument("--last", action="store_true", help="the latest weights instead of the best")
    _add_home(i)

    r = sub.add_parser("runs", help="list runs; show, compare, delete, rename or unlock them")
    r.add_argument(
        "action",
        nargs="?",
        default="list",
        choices=["list", "show", "compare", "delete", "rename", "stop", "pause", "resume", "unlock", "export"],
    )
    r.add_argument("run", nargs="?")
    r.add_argument("new_name", nargs="?")
    r.add_argument("more", nargs="*", help=argparse.SUPPRESS)  # compare: the third and fourth run
    r.add_argument("--json", action="store_true")
    r.add_argument(
        "--force",
        action="store_true",
        help="unlock: also break a lock held by a process on another machine (if it is gone)",
    )
    r.add_argument(
        "--format",
        choices=["csv", "tensorboard"],
        default="csv",
        help="export: the metrics as CSV or TensorBoard files",
    )
    r.add_argument("--out", help="export: the file (csv) or folder (tensorboard) to write; default: in the run folder")
    _add_home(r)

    k = sub.add_parser("corpora", help="list the corpus catalog, or add a corpus")
    k.add_argument("action", nargs="?", choices=["list", "add"], default="list")
    k.add_argument("source", nargs="?", help="for add: a file, folder (glob) or URL")
    k.add_argument("--name", help="for add: the corpus name (letters, digits, '.', '_', '-')")
    k.add_argument("--replace", action="store_true", help="for add: replace an existing corpus of that name")
    k.add_argument("--json", action="store_true")
    _add_home(k)
    return parser
