"""The corpus catalog: built-in corpora, the repo's corpora/ folder, the user corpora dir,
and turning what a user typed (a name, a path, a folder glob, a URL) into a Corpus."""

from __future__ import annotations

import json
import os
import shutil
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from charlm_tui.core.atomic import remove_stale_temps
from charlm_tui.core.bounded_read import read_text_bounded
from charlm_tui.core.config import DEFAULT_CORPUS  # noqa: F401 (re-exported)
from charlm_tui.core.data.corpus import (
    Corpus,
    Part,
    ProgressFn,
    TextOptions,
    decode_parts,
    existing_path,
)
from charlm_tui.core.data.download import download, is_url, parse_url, source_file, source_of, url_cache_path
from charlm_tui.core.errors import CorpusError
from charlm_tui.core.names import child
from charlm_tui.paths import user_corpora_dir

FOLDER_SEPARATOR = "\n\n"
CODE_MAX_BYTES_ENV = "CHARLM_TUI_CODE_MAX_BYTES"
_SKIP_STDLIB_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__", "lib2to3"}


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    kind: str  # "built-in" | "user"
    description: str
    source: str
    parts: Callable[[], list[Part]]

    def file_size(self) -> int | None:
        """Size on disk without building the text (None for corpora made in memory)."""
        try:
            return Path(self.source).stat().st_size
        except OSError:
            return None


# ---------------------------------------------------------------- built-in sources


def pydoc_topics_text() -> str:
    """The Python reference documentation text every CPython ships."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k].strip("\n") for k in sorted(topics)) + "\n"


def stdlib_source_text(max_bytes: int) -> str:
    """The standard library's own Python source, in a stable order, with a header per file."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out: list[str] = []
    size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_STDLIB_DIRS and not d.startswith("."))
        for fn in sorted(filenames):
            if not fn.endswith(".py"):
                continue
            path = Path(dirpath) / fn
            try:
                body = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            piece = f"# ---- {path.relative_to(root).as_posix()} ----\n{body.rstrip()}\n\n"
            n = len(piece.encode("utf-8"))
            if size + n > max_bytes:  # fill the cap with the head of this file, cut at a line end
                head = piece.encode("utf-8")[: max_bytes - size].decode("utf-8", "ignore")
                out.append(head[: head.rfind("\n") + 1])
                return "".join(out)
            out.append(piece)
            size += n
    return "".join(out)


def repo_corpora_dir() -> Path | None:
    """The corpora/ folder shipped with the app: inside the wheel, or the source checkout's."""
    here = Path(__file__).resolve().parents[2]  # the charlm_tui package
    for candidate in (here / "_corpora", here.parent / "corpora"):
        if candidate.is_dir():
            return candidate
    return None


def _manifest_entry(path: Path) -> CatalogEntry:
    try:
        m = json.loads(read_text_bounded(path, 1 << 20))
        name, kind = m["name"], m["kind"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CorpusError(f"{path}: bad corpus manifest ({e})") from None
    desc = m.get("description", "")
    if kind == "pydoc-topics":
        return CatalogEntry(name, "built-in", desc, "pydoc_data.topics", lambda: [pydoc_topics_text()])
    if kind == "stdlib-source":
        cap = int(os.environ.get(CODE_MAX_BYTES_ENV) or m.get("max_bytes", 3_000_000))
        return CatalogEntry(
            name,
            "built-in",
            f"{desc} (first {cap / 1e6:g} MB)",
            "python stdlib source",
            lambda: [stdlib_source_text(cap)],
        )
    if kind == "file":
        target = path.parent / m["path"]
        return CatalogEntry(name, "built-in", desc, str(target), lambda: [target])
    raise CorpusError(f"{path}: unknown corpus kind {kind!r}")


def builtin_entries() -> list[CatalogEntry]:
    folder = repo_corpora_dir()
    if folder is None:
        return [
            CatalogEntry(
                DEFAULT_CORPUS,
                "built-in",
                "Python reference documentation (pydoc topics)",
                "pydoc_data.topics",
                lambda: [pydoc_topics_text()],
            )
        ]
    entries = [_manifest_entry(p) for p in sorted(folder.glob("*.json"))]
    for p in sorted(folder.glob("*.txt")):
        entries.append(CatalogEntry(p.stem, "built-in", "text shipped with charlm-tui", str(p), _parts_of(p)))
    entries.sort(key=lambda e: (e.name != DEFAULT_CORPUS, e.name))
    return entries


def _parts_of(p: Path) -> Callable[[], list[Part]]:
    return lambda: [p]


def user_entries(home: Path) -> list[CatalogEntry]:
    folder = user_corpora_dir(home)
    if not folder.is_dir():
        return []
    remove_stale_temps(folder)  # a download or copy killed half-way
    out = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            out.append(CatalogEntry(p.stem, "user", f"your file {p.name}", str(p), _parts_of(p)))
    return out


def list_catalog(home: Path) -> list[CatalogEntry]:
    entries = builtin_entries()
    taken = {e.name for e in entries}
    for e in user_entries(home):
        if e.name in taken:  # a user file never hides a built-in; reach it by its file name
            e = CatalogEntry(Path(e.source).name, e.kind, e.description, e.source, e.parts)
        taken.add(e.name)
        entries.append(e)
    return entries


# ---------------------------------------------------------------- resolving what the user typed


def _has_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def folder_parts(base: Path, pattern: str, shown: str) -> list[Part]:
    files = sorted(
        (p for p in base.glob(pattern) if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.relative_to(base).as_posix(),
    )
    if not files:
        raise CorpusError(f"{shown}: no files match; check the folder and the glob (e.g. 'notes/**/*.md')")
    parts: list[Part] = []
    for i, f in enumerate(files):
        if i:
            parts.append(FOLDER_SEPARATOR)
        parts.append(f)
    return parts


def path_parts(spec: str) -> tuple[str, list[Part]]:
    """(name, parts) for a file, a folder, or a folder glob."""
    if _has_glob(spec):
        expanded = os.path.expanduser(spec)
        # split into the folder before the first glob component and the pattern after it
        comps = Path(expanded).parts
        i = next(k for k, c in enumerate(comps) if _has_glob(c))
        base = Path(*comps[:i]) if i else Path(".")
        if not base.is_dir():
            raise CorpusError(f"{base}: no such folder")
        return base.resolve().name or "corpus", folder_parts(base, str(Path(*comps[i:])), spec)
    path = existing_path(spec)
    if path.is_dir():
        return path.resolve().name or "corpus", folder_parts(path, "**/*", spec)
    if not os.access(path, os.R_OK):
        raise CorpusError(f"{path}: permission denied; check the file's permissions")
    return path.stem, [path]


def resolve(
    spec: str,
    home: Path,
    opts: TextOptions | None = None,
    progress: ProgressFn | None = None,
    download_progress: Callable[[int, int | None], None] | None = None,
) -> Corpus:
    """Load the corpus a user named: catalog name, file, folder, folder glob or URL."""
    spec = spec.strip()
    if not spec:
        raise CorpusError("no corpus given; name a built-in corpus (see 'charlm-tui corpora') or a path")
    if is_url(spec):
        path = fetch_url(spec, home, progress=download_progress)
        return decode_parts(path.stem, spec, [path], opts, progress)
    spec = file_url_path(spec)
    for e in list_catalog(home):
        if e.name == spec:
            return decode_parts(e.name, e.source, e.parts(), opts, progress)
    looks_like_path = os.sep in spec or spec.startswith((".", "~")) or Path(spec).exists() or _has_glob(spec)
    if not looks_like_path:
        names = ", ".join(e.name for e in list_catalog(home))
        raise CorpusError(f"{spec!r} is neither a corpus name nor an existing path; corpora: {names}")
    name, parts = path_parts(spec)
    return decode_parts(name, spec, parts, opts, progress)


def stored_spec(spec: str, home: Path) -> str:
    """How a run records the corpus it was given, so that it names the same corpus from any folder:
    a catalog name or URL as it is, a path (or folder glob) made absolute with ``~`` expanded."""
    spec = spec.strip()
    if is_url(spec):
        return spec
    path = file_url_path(spec)
    if any(e.name == path for e in list_catalog(home)):
        return path
    return os.path.abspath(os.path.expanduser(path))


def file_url_path(spec: str) -> str:
    """A ``file://`` URL as the path it names; any other non-http scheme is refused by name."""
    import urllib.parse
    import urllib.request

    if "://" in spec:
        parsed = parse_url(spec)
    else:  # a path ('file:/x' is a URL too); one urllib cannot parse ('//a[b/c') stays a path
        try:
            parsed = urllib.parse.urlparse(spec)
        except ValueError:
            return spec
    scheme = parsed.scheme
    if scheme == "file":
        return urllib.request.url2pathname(parsed.path)
    if len(scheme) > 1 and "://" in spec:
        raise CorpusError(f"{spec}: {scheme}:// URLs are not supported; use http://, https:// or a local path")
    return spec


def fetch_url(
    url: str,
    home: Path,
    name: str | None = None,
    replace: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """The user-corpora file that holds ``url``: downloaded once, then reused. A cached file is
    matched by the URL it came from (kept beside it), never by its file name alone."""
    folder = user_corpora_dir(home)
    if name is None:
        dest = url_cache_path(url, folder)
        if dest.is_file() and source_of(dest) == url and not replace:
            return dest
    else:
        dest = new_corpus_path(home, name, replace)
    download(url, dest, progress=progress)
    from charlm_tui.core.atomic import write_bytes

    write_bytes(source_file(dest), url.encode("utf-8") + b"\n")
    return dest


def _free_name(home: Path, name: str) -> str:
    taken = {e.name for e in list_catalog(home)} | {p.stem for p in user_corpora_dir(home).glob("*")}
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name[:90]}-{n}", n + 1
    return candidate


def new_corpus_path(home: Path, name: str, replace: bool = False) -> Path:
    """Where a user corpus called ``name`` is written: a valid name, inside the user corpora folder,
    not a built-in's name, and not an existing corpus unless ``replace``."""
    folder = user_corpora_dir(home)
    dest = child(folder, name, "corpus", ".txt")
    if name in {e.name for e in builtin_entries()}:
        raise CorpusError(f"{name!r} is the name of a built-in corpus; choose another --name")
    taken = [p for p in (folder.glob(f"{name}.*") if folder.is_dir() else ()) if p.stem == name and p.is_file()]
    if taken and not replace:
        raise CorpusError(
            f"a corpus named {name!r} exists already ({taken[0].name}); runs trained on it could "
            "no longer resume if it changed: choose another --name, or pass --replace"
        )
    for p in taken:
        if p != dest:
            p.unlink()
    return dest


def add_to_user_dir(
    spec: str,
    home: Path,
    name: str | None = None,
    replace: bool = False,
    download_progress: Callable[[int, int | None], None] | None = None,
    free_name: bool = False,
) -> Path:
    """Copy a file/folder, or download a URL, into the user corpora dir; return the new file.
    ``free_name`` (the app's add box, which has no name field): when the name the source suggests
    is taken, use the first free ``NAME-2``, ``NAME-3``, ... instead of refusing."""
    from charlm_tui.core.names import safe_name

    user_corpora_dir(home).mkdir(parents=True, exist_ok=True)
    if is_url(spec):
        return fetch_url(spec, home, name, replace, download_progress)
    spec = file_url_path(spec)
    src_name, parts = path_parts(spec)
    if name is None:
        name = safe_name(Path(parts[0]).stem if len(parts) == 1 else src_name)
        if free_name:
            name = _free_name(home, name)
    dest = new_corpus_path(home, name, replace)
    decode_parts(src_name, spec, parts)  # refuse binary/empty input before copying anything
    from charlm_tui.core.atomic import atomic_writer

    with atomic_writer(dest) as out:
        for part in parts:
            if isinstance(part, Path):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out)
            else:
                out.write(part.encode("utf-8"))
    return dest
