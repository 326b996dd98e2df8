"""The one check for names that users give (run ids, run names, corpus names) and for the paths
built from them: a name is a safe set of characters with no separator and no reserved word, and
the path it names must lie directly inside its folder. Everything that reads, writes, renames or
deletes by a user-given name goes through ``child()``."""

from __future__ import annotations

import re
from pathlib import Path

from charlm_tui.core.errors import CharLMError, CorpusError, RunError

MAX_NAME = 100
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# words with a meaning of their own on the command line or on disk
RESERVED = frozenset({"latest", "best", "last", "runs", "corpora", "con", "prn", "aux", "nul"})
_ERRORS: dict[str, type[CharLMError]] = {"run": RunError, "run name": RunError, "corpus": CorpusError}


def name_problem(name: object, what: str = "run name") -> str | None:
    """Why ``name`` cannot be used as a ``what`` (None if it can)."""
    if not isinstance(name, str) or not name:
        return f"a {what} cannot be empty"
    if len(name) > MAX_NAME:
        return f"{what} {name[:40]!r}... is too long ({len(name)} characters; at most {MAX_NAME})"
    if not NAME_RE.fullmatch(name) or name.endswith("."):
        return (
            f"invalid {what} {name!r}: use letters, digits, '.', '_' and '-', starting with a "
            "letter or digit (no '/', spaces or '..' paths)"
        )
    if name.lower() in RESERVED:
        return f"{what} {name!r} is a reserved word; choose another"
    return None


def check_name(name: object, what: str = "run name") -> str:
    problem = name_problem(name, what)
    if problem:
        raise _ERRORS.get(what, CharLMError)(problem)
    return name  # type: ignore[return-value]


def inside(folder: Path, path: Path) -> bool:
    """Whether ``path`` (after following links) is directly inside ``folder``."""
    try:
        return path.resolve().parent == folder.resolve()
    except (OSError, RuntimeError):  # a link loop
        return False


def child(folder: Path, name: str, what: str = "run name", suffix: str = "") -> Path:
    """``folder/name+suffix`` for a valid name, refused if it would resolve anywhere else (a link
    that points out of the folder counts as outside)."""
    check_name(name, what)
    path = folder / (name + suffix)
    if not inside(folder, path):
        raise _ERRORS.get(what, CharLMError)(f"{path} points outside {folder}; refusing to touch it")
    return path


def safe_name(text: str, fallback: str = "corpus") -> str:
    """A valid name made from arbitrary text (a file or URL name): other characters become '-'."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[:MAX_NAME].rstrip("-._")
    return s if name_problem(s, "name") is None else fallback
