"""One validating reader per file of a run folder.

Any file in the data dir may be missing, truncated, hand-edited, written by another version, or of
the wrong type. Each reader here checks the shape and the types of what it reads and either
returns clean values or raises ``RunError`` naming the file and the problem, so that one damaged
run is shown as damaged, with the reason, and never takes the listing, the app or another run
down with it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from charlm_tui.core.bounded_read import NotAFileOfOurs, read_bounded
from charlm_tui.core.config import perplexity
from charlm_tui.core.errors import RunError

MAX_JSON_BYTES = 16 << 20  # a config, status or lock file is a few KB; refuse to parse a huge one
MAX_METRICS_BYTES = 256 << 20  # about a million evaluations

# JSON types: "int" is a whole number (not a bool), "num" any real number (not a bool), "str" a string
_INT, _NUM, _STR = "int", "num", "str"
STATUS_FIELDS: dict[str, tuple[str, bool]] = {  # name -> (type, may be null)
    "status": (_STR, False),
    "reason": (_STR, True),
    "message": (_STR, True),
    "steps": (_INT, False),
    "best_val_nll": (_NUM, True),
    "best_val_ppl": (_NUM, True),
    "best_val_bpc": (_NUM, True),
    "epoch": (_NUM, True),
    "total_steps": (_INT, True),
    "budget": (_NUM, True),
    "time_budget": (_NUM, True),
    "updated": (_STR, True),
    "created": (_STR, True),
    "heartbeat": (_NUM, True),
    "pid": (_INT, True),
    "host": (_STR, True),
}
METRIC_FIELDS: dict[str, tuple[str, bool]] = {
    "step": (_INT, False),
    "val_nll": (_NUM, True),
    "val_ppl": (_NUM, True),
    "val_bpc": (_NUM, True),
    "epoch": (_NUM, True),
    "train_loss": (_NUM, True),
    "lr": (_NUM, True),
    "chars_per_s": (_NUM, True),
    "elapsed": (_NUM, True),
    "time": (_STR, True),
    "patience_left": (_INT, True),
    "lr_cut_from": (_NUM, True),
}
RUN_STATUSES = ("created", "running", "paused", "stopped", "finished", "failed")


def type_problem(value, kind: str, nullable: bool) -> str | None:
    if value is None:
        return None if nullable else "is missing"
    if kind == _STR:
        return None if isinstance(value, str) else f"should be text, got {value!r}"[:120]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"should be a number, got {value!r}"[:120]
    if kind == _INT and not isinstance(value, int):
        return f"should be a whole number, got {value!r}"[:120]
    if kind == _INT and value < 0:
        return f"should not be negative, got {value}"
    if isinstance(value, float) and math.isnan(value):
        return None if nullable else "is NaN"
    return None


def checked(obj, fields: dict[str, tuple[str, bool]], where: str) -> dict:
    """``obj`` as a dict of the known fields, each of the right type; unknown keys are dropped (a
    newer version may add some)."""
    if not isinstance(obj, dict):
        raise RunError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    out = {}
    for name, (kind, nullable) in fields.items():
        problem = type_problem(obj.get(name), kind, nullable)
        if problem:
            raise RunError(f"{where}: {name!r} {problem}")
        if name in obj:
            out[name] = obj[name]
    return out


def read_json(path: Path, what: str | None = None):
    """Parse a small JSON file; RunError (naming the file) for anything unreadable."""
    what = what or path.name
    try:
        raw = read_bounded(path, MAX_JSON_BYTES)
    except FileNotFoundError:
        raise RunError(f"{path}: {what} is missing") from None
    except NotAFileOfOurs as e:
        raise RunError(f"{path}: {what} is {e.strerror}") from None
    except IsADirectoryError:
        raise RunError(f"{path}: {what} is a folder, not a file") from None
    except OSError as e:
        raise RunError(f"{path}: {what} is unreadable ({e.strerror or e})") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise RunError(f"{path}: {what} is not UTF-8 text (byte 0x{raw[e.start]:02x} at {e.start})") from None
    except ValueError as e:
        raise RunError(f"{path}: {what} is not valid JSON ({e})") from None
    except RecursionError:
        raise RunError(f"{path}: {what} is nested too deeply") from None


def read_config(path: Path) -> dict:
    """config.json: an object with 'model', 'train' and 'corpus' objects (their fields are checked by
    ModelConfig/TrainConfig when used)."""
    cfg = read_json(path, "config.json")
    if not isinstance(cfg, dict):
        raise RunError(f"{path}: expected a JSON object, got {type(cfg).__name__}; fix the file or delete the run")
    for key in ("model", "train", "corpus"):
        if not isinstance(cfg.get(key), dict):
            raise RunError(f"{path}: missing or invalid {key!r} section; fix the file or delete the run")
    corpus = cfg["corpus"]
    for key in ("name", "spec", "sha256", "encoding", "normalize"):
        if corpus.get(key) is not None and not isinstance(corpus[key], str):
            raise RunError(f"{path}: corpus {key!r} should be text, got {corpus[key]!r}"[:200])
    for key in ("created", "first_train", "world_size"):
        want = {"created": str, "first_train": dict, "world_size": int}[key]
        if cfg.get(key) is not None and (not isinstance(cfg[key], want) or isinstance(cfg[key], bool)):
            raise RunError(f"{path}: {key!r} has the wrong type ({type(cfg[key]).__name__})")
    if isinstance(cfg.get("world_size"), int) and cfg["world_size"] < 1:
        raise RunError(f"{path}: 'world_size' must be at least 1")
    return cfg


def read_status(path: Path) -> dict:
    """status.json, checked; ``{"status": "unknown"}`` when there is none yet."""
    try:
        st = checked(read_json(path, "status.json"), STATUS_FIELDS, str(path))
    except RunError as e:
        if not path.exists():
            return {"status": "unknown"}
        raise e
    if st["status"] not in RUN_STATUSES:
        raise RunError(f"{path}: unknown status {st['status']!r}"[:200])
    return st


def read_metrics(path: Path, offset: int = 0) -> tuple[list[dict], int, int]:
    """(valid records (an evaluation has val_nll), lines skipped as damaged, byte offset after the last whole line)
    of metrics.jsonl from ``offset``. A line still being written (no newline yet) waits; a line
    torn by a kill, a non-UTF-8 byte or a hand-edit is skipped and counted."""
    try:
        chunk = read_bounded(path, MAX_METRICS_BYTES, offset)
    except FileNotFoundError:
        return [], 0, offset
    except OSError:  # a folder in its place, no permission: nothing readable, counted as damaged
        return [], 1, offset
    complete = chunk[: chunk.rfind(b"\n") + 1]
    out, skipped = [], 0
    for line in complete.split(b"\n"):
        if not line.strip():
            continue
        try:
            m = checked(json.loads(line.decode("utf-8")), METRIC_FIELDS, "metrics line")
        except (UnicodeDecodeError, ValueError, RecursionError, RunError):
            skipped += 1
            continue
        nll = m.get("val_nll")
        if nll is not None:  # a record of an evaluation: its perplexity and bits/char follow from the NLL
            m.setdefault("val_ppl", perplexity(nll))
            m.setdefault("val_bpc", nll / math.log(2))
        out.append(m)
    return out, skipped, offset + len(complete)


@dataclass(frozen=True)
class LockInfo:
    """Who holds a run's lock: enough to tell that process from a later one with the same pid."""

    pid: int
    host: str
    since: str = ""
    start: str | None = None  # the process's start time (Linux: /proc/PID/stat field 22)
    boot: str | None = None  # the machine's boot id
    t: float | None = None  # when it was taken (time.time())

    def to_json(self) -> dict:
        return {
            "pid": self.pid,
            "host": self.host,
            "since": self.since,
            "start": self.start,
            "boot": self.boot,
            "t": self.t,
        }

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.t) if self.t is not None else math.inf


def read_lock(path: Path) -> LockInfo | None:
    """The lock's holder as written, or None when the file is missing. A lock that is empty or
    unreadable (written by a version without atomic locks when the disk filled) raises RunError."""
    if not path.exists():
        return None
    obj = read_json(path, "lock")
    if not isinstance(obj, dict):
        raise RunError(f"{path}: lock is not a JSON object")
    pid, host = obj.get("pid"), obj.get("host")
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0 or not isinstance(host, str):
        raise RunError(f"{path}: lock names no valid process (pid {pid!r}, host {host!r})"[:200])

    def text(key: str) -> str | None:
        v = obj.get(key)
        return v if isinstance(v, str) else None

    t = obj.get("t")
    t = float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) else None
    return LockInfo(pid, host, text("since") or "", text("start"), text("boot"), t)
