"""Driving the installed `charlm-tui` in a real terminal (tmux), shared by the end-to-end tests.

Every wait fails with the last screen in its message, so a failure on a slow CI machine says what
the user would have seen."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest


def wait(cond, timeout: float = 180.0, what: str = "condition", context=lambda: ""):
    """Poll ``cond`` until it returns something truthy (returned); fail naming ``what`` and ``context()``.
    The timeouts are generous: a wait ends as soon as its condition holds, and a loaded machine
    (the suite beside two CPU-bound processes) starts the app and its training several times slower."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    pytest.fail(f"{what} not reached within {timeout:g} s{context()}")


def require_tmux_and_exe() -> Path:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: the end-to-end tests need it (apt-get install tmux)")
    exe = Path(sys.executable).parent / "charlm-tui"
    if not exe.exists():
        pytest.fail(f"{exe} missing: install the project (pip install -e .) so the console script exists")
    return exe


class Tmux:
    def __init__(self, session: str):
        self.session = session

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout

    def start(self, command: str, width: int = 100, height: int = 30) -> None:
        """Run ``command`` in a new session, with this test's CHARLM_TUI_* settings (a tmux server
        started earlier, outside the test, would otherwise give the app its own environment: then
        fit to budget timed the machine and auto precision measured it, under a loaded suite)."""
        self.kill()
        pinned = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(os.environ.items()) if k.startswith("CHARLM_TUI_"))
        subprocess.run(
            [
                "tmux",
                "new-session",
                "-d",
                "-s",
                self.session,
                "-x",
                str(width),
                "-y",
                str(height),
                f"env {pinned} sh -c {shlex.quote(command)}",
            ],
            check=True,
        )

    def kill(self) -> None:
        self.run("kill-session", "-t", self.session)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        for key in keys:  # one at a time: an escape sequence and the next key in one burst can be misread
            self.run("send-keys", "-t", self.session, key)
            time.sleep(0.12)

    def wait_screen(self, text: str, timeout: float = 180.0) -> str:
        return self.wait(lambda: text in self.screen(), timeout, f"{text!r} on screen")

    def wait(self, cond, timeout: float, what: str):
        return wait(cond, timeout, what, lambda: f"; last screen:\n{self.screen()}")
