"""Telling a live process from a dead one, and from a later process that got the same pid."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from charlm_tui.core.atomic import pid_alive


def start_time(pid: int) -> str | None:
    """When process ``pid`` started, as the kernel counts it (Linux; None elsewhere or if gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    try:  # the command name (field 2) may hold spaces and parentheses: split after its last ')'
        return stat[stat.rindex(")") + 2 :].split()[19]
    except (ValueError, IndexError):
        return None


def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def identity() -> dict:
    """This process, as a lock records it."""
    return identity_of(os.getpid())


def identity_of(pid: int) -> dict:
    """A process of this machine (this one, or a child it started), as a lock records it."""
    return {"pid": pid, "host": socket.gethostname(), "start": start_time(pid), "boot": boot_id()}


def holder_alive(pid: int, host: str, start: str | None, boot: str | None) -> bool | None:
    """Whether the process a lock names still runs: True, False, or None when this machine cannot
    tell (another host)."""
    if host != socket.gethostname():
        return None
    if boot is not None and boot_id() not in (None, boot):
        return False  # the machine rebooted since
    if not pid_alive(pid):
        return False
    if start is not None:
        now = start_time(pid)
        if now is not None and now != start:
            return False  # the pid was reused by a later process
    return True
