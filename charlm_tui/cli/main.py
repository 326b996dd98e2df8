"""The ``charlm-tui`` command: no arguments opens the TUI; subcommands do headless work."""

from __future__ import annotations

import sys
from pathlib import Path

from charlm_tui.cli.export import cmd_export
from charlm_tui.cli.inspect import cmd_inspect
from charlm_tui.cli.parser import PROG, build_parser
from charlm_tui.cli.remote import cmd_serve, cmd_watch
from charlm_tui.cli.store import cmd_corpora, cmd_runs
from charlm_tui.cli.train import cmd_eval, cmd_sample, cmd_train
from charlm_tui.core.errors import CharLMError
from charlm_tui.formatting import printable
from charlm_tui.paths import data_home


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = [a for a in argv[argv.index(args.command) + 1 :]] if args.command else []
    home = data_home(args.home)
    commands = {
        "train": cmd_train,
        "sample": cmd_sample,
        "eval": cmd_eval,
        "inspect": cmd_inspect,
        "runs": cmd_runs,
        "corpora": cmd_corpora,
        "watch": cmd_watch,
        "serve": cmd_serve,
        "export": cmd_export,
    }
    try:
        if args.command is None:
            return run_tui(home, mouse=not args.no_mouse)
        return commands[args.command](args, home)
    except CharLMError as e:
        print(printable(f"{PROG}: error: {e}"), file=sys.stderr)  # it may quote a path or a file's text
        return 1
    except BrokenPipeError:
        return 0
    except OSError as e:  # disk full, an unusable data dir, ...: say which file and why, no traceback
        print(f"{PROG}: error: {os_error_text(e, home, args.command)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.command == "watch":
            return 0
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def os_error_text(e: OSError, home: Path, command: str | None = "train") -> str:
    """An OSError as one sentence that says what to do about it (and, for training, that what was
    saved before is safe)."""
    import errno

    name = getattr(e, "filename", None)
    where = f": {name}" if name else ""
    # a file outside the data dir is the user's own (export --out, corpora add FILE): name its folder
    outside = bool(name) and not _inside(Path(str(name)), home)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        kept = " (the last saved checkpoints are intact)" if command in (None, "train") else ""
        return f"the disk is full{where}; free some space{kept}"
    if e.errno in (errno.EACCES, errno.EPERM):
        if outside:
            return f"permission denied{where}; check the permissions of {Path(str(name)).parent}"
        return f"permission denied{where}; check the permissions of the data dir ({home})"
    if e.errno == errno.EROFS:
        if outside:
            return f"read-only file system{where}; choose a writable folder"
        return f"read-only file system{where}; point --home (or CHARLM_TUI_HOME) at a writable folder"
    return f"{e.strerror or e}{where}"


def _inside(path: Path, home: Path) -> bool:
    try:
        return path.resolve().is_relative_to(home.resolve())
    except (OSError, RuntimeError, ValueError):
        return False


def run_tui(home: Path, mouse: bool = True) -> int:
    try:
        from charlm_tui.tui.app import run_app
    except ImportError:
        build_parser().print_help()
        return 0
    return run_app(home, mouse=mouse)
