"""A run's lock: held by the one process that trains into the run folder, written whole or not at
all, naming its process beyond its pid (start time, boot id) so a reused pid never holds it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from charlm_tui.core.bounded_read import read_bounded
from charlm_tui.core.errors import RunError
from charlm_tui.core.store.process import holder_alive, identity, identity_of
from charlm_tui.core.store.run_files import read_lock

UNCHECKABLE_LOCK_STALE_S = 600.0


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _link_exclusive(tmp: Path, lock: Path, data: bytes) -> None:
    """Put ``tmp`` in place as ``lock``; FileExistsError if a lock exists."""
    try:
        os.link(tmp, lock)
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links: create exclusively, then fill
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


def heartbeat_age(st: dict) -> float:
    try:
        return max(0.0, time.time() - float(st["heartbeat"]))
    except (KeyError, TypeError, ValueError):
        return 0.0


class RunLock:
    """The lock file of the run folder ``path`` (``status`` reads the run's status, whose heartbeat
    tells a live lock without a start time from one whose pid was reused)."""

    def __init__(self, path: Path, run_id: str, status: Callable[[], dict]):
        self.path, self.id, self._status = path, run_id, status
        self._locked = False

    def acquire(self, pid: int | None = None) -> None:
        """Take the run's lock, or raise RunError naming who holds it. The lock appears whole or not
        at all (written to a temp file, then hard-linked into place, which fails if one exists), and
        names this process by pid, start time and boot id, so a later process with the same pid is
        never mistaken for it. With ``pid``: taken for that (child) process, which finds the lock
        already its own when it takes it (``train --detach`` holds a new run for its trainer while
        that starts, so the run is never listed as damaged or deleted meanwhile)."""
        lock = self.path / "lock"
        who = identity() if pid is None else {**identity_of(pid), "by": os.getpid()}
        data = json.dumps({**who, "since": _now(), "t": time.time()}).encode()
        for _ in range(3):
            tmp = self.path / f".lock.tmp-{os.getpid()}-{secrets.token_hex(3)}"
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                _link_exclusive(tmp, lock, data)
            except FileExistsError:
                holder = self.holder()
                if holder is None:  # stale: its process is gone
                    self._remove()
                    continue
                if pid is None and self._taken_for_me():  # by its parent: now this process's own
                    os.replace(tmp, lock)
                    self._locked = True
                    return
                raise RunError(
                    f"run {self.id} is being trained by pid {holder.get('pid')} on "
                    f"{holder.get('host')}; stop it first ('charlm-tui runs stop {self.id}')"
                ) from None
            finally:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            self._locked = True
            return
        raise RunError(f"run {self.id}: could not take the lock; try again")

    def _taken_for_me(self) -> bool:
        """The lock names this process and was written by another one (``acquire_lock(pid=...)``)."""
        try:
            raw = json.loads(read_bounded(self.path / "lock", 64 << 10))
        except (OSError, ValueError):
            return False
        me = identity()
        return (
            isinstance(raw, dict)
            and raw.get("pid") == me["pid"]
            and raw.get("start") == me["start"]
            and isinstance(raw.get("by"), int)
            and raw.get("by") != me["pid"]
        )

    def holder(self) -> dict | None:
        """Who holds the lock, or None if nobody alive does (no lock, a damaged lock, or one whose
        process is gone or whose pid now belongs to another process)."""
        try:
            info = read_lock(self.path / "lock")
        except RunError:
            return None  # empty or torn (an older version's lock when the disk filled): nobody holds it
        if info is None:
            return None
        alive = holder_alive(info.pid, info.host, info.start, info.boot)
        if alive is False:
            return None
        if alive and info.start is None and min(heartbeat_age(self._status()), info.age) > UNCHECKABLE_LOCK_STALE_S:
            # no start time to compare (an older version's lock, or no /proc): a live pid that has not
            # beaten for this long was reused by another process
            return None
        return info.to_json()

    def break_lock(self, force: bool = False, confirm: Callable[[str], bool] | None = None) -> str:
        """Remove a lock that no live process holds; with ``force``, also one this machine cannot
        check (another host), and one whose pid is alive here once ``confirm`` (asked a question
        that names the process) says yes: the pid may have been reused by another program, which a
        lock without a start time cannot rule out."""
        try:
            info = read_lock(self.path / "lock")
        except RunError as e:
            self._remove()
            return f"removed a damaged lock ({e})"
        if info is None:
            return "it has no lock"
        alive = self.holder() is not None and holder_alive(info.pid, info.host, info.start, info.boot)
        if alive:
            sure = "" if info.start is None else " (its start time matches the lock's)"
            question = (
                f"pid {info.pid} is alive{sure} and may be training run {self.id}; removing its lock lets "
                "another process write the same run. Remove it anyway?"
            )
            if not (force and confirm is not None and confirm(question)):
                raise RunError(
                    f"pid {info.pid} is alive and holds run {self.id}; stop it with "
                    f"'charlm-tui runs stop {self.id}' (or kill {info.pid}) instead"
                    + (
                        ""
                        if force
                        else f", or if that pid is another program now, 'charlm-tui runs unlock {self.id} --force'"
                    )
                )
            self._remove()
            return f"removed the lock of live pid {info.pid} on {info.host}, as confirmed"
        if alive is None and self.holder() is not None and not force:
            raise RunError(
                f"run {self.id} is locked by pid {info.pid} on {info.host}, which this machine cannot "
                "check; if that process is gone, run again with --force"
            )
        self._remove()
        return f"removed the lock of pid {info.pid} on {info.host} (since {info.since or '?'})"

    def _remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.path / "lock").unlink()

    def release(self) -> None:
        if self._locked:
            self._locked = False
            try:
                mine = read_lock(self.path / "lock")
            except RunError:
                mine = None
            if mine is not None and mine.pid == os.getpid():
                self._remove()
