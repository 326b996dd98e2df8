"""A run's control channel: another process (watch, the Runs screen, `runs stop`) asks the one
training the run to pause, resume or stop by writing control.json; the trainer reads it between
steps (every CONTROL_POLL_S) and obeys each command once."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

from charlm_tui.core.atomic import write_json
from charlm_tui.core.bounded_read import read_text_bounded
from charlm_tui.core.errors import RunError

CONTROL_POLL_S = 0.2
CONTROL_COMMANDS = ("pause", "resume", "stop")


class ControlChannel:
    def __init__(self, path: Path):
        self.file = path / "control.json"
        self._seen: str | None = None

    def send(self, command: str) -> None:
        """Ask the process training this run to pause, resume or stop (it checks every ~0.2 s)."""
        if command not in CONTROL_COMMANDS:
            raise RunError(f"unknown command {command!r}; use {', '.join(CONTROL_COMMANDS)}")
        write_json(
            self.file,
            {
                "command": command,
                "id": secrets.token_hex(4),
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "pid": os.getpid(),
            },
        )

    def read(self) -> dict | None:
        try:
            c = json.loads(read_text_bounded(self.file, 64 << 10))
            return c if isinstance(c, dict) else None
        except (OSError, ValueError):
            return None

    def take_new(self) -> str | None:
        """The command sent since the last one taken (each is obeyed once), or None."""
        c = self.read()
        if c is None or c.get("id") == self._seen:
            return None
        self._seen = c.get("id")
        command = c.get("command")
        return command if command in CONTROL_COMMANDS else None

    def ignore_pending(self) -> None:
        """A new training process must not obey a command meant for an earlier one."""
        c = self.read()
        self._seen = c.get("id") if c else None
