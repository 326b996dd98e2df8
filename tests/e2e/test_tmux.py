"""End to end: the installed `charlm-tui` in a real terminal (tmux): train a tiny run on the
default corpus, generate, quit; the process must exit and the run must be on disk."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

SESSION = "charlm-e2e"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_screen(text: str, timeout: float = 60.0) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s = screen()
        if text in s:
            return s
        time.sleep(0.2)
    pytest.fail(f"{text!r} did not appear on screen; last screen:\n{screen()}")


def keys(*k: str) -> None:
    for key in k:  # one at a time: an escape sequence and the next key in one burst can be misread
        tmux("send-keys", "-t", SESSION, key)
        time.sleep(0.12)


def test_train_generate_quit_in_tmux(tmp_path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: the end-to-end test needs it (apt-get install tmux)")
    exe = Path(sys.executable).parent / "charlm-tui"
    if not exe.exists():
        pytest.fail(f"{exe} missing: install the project (pip install -e .) so the console script exists")
    home, exit_file = tmp_path / "home", tmp_path / "exit-code"
    tmux("kill-session", "-t", SESSION)
    tmux("new-session", "-d", "-s", SESSION, "-x", "100", "-y", "30",
         f"CHARLM_TUI_HOME={home} {exe}; echo $? > {exit_file}; sleep 30")
    try:
        wait_screen("465,048")            # the default corpus, described
        keys("Enter")                      # -> configure, focus on the first number
        wait_screen("parameters")
        for value in ("16", "32", "1", "0", "8", "32", None, None, "20", None, None, "0.05"):
            if value is not None:
                keys("End", "C-u", value)
            keys("Tab")
        wait_screen("steps/epoch")
        keys("C-s")                        # start training
        wait_screen("reached the time budget", timeout=90)
        keys("F5")                         # generate
        wait_screen("temperature 0.80")
        keys("T", "h", "e", "Space", "Enter")
        wait_screen("» The ", timeout=30)
        time.sleep(1)
        keys("C-q")
        for _ in range(100):
            if exit_file.exists():
                break
            time.sleep(0.1)
        assert exit_file.exists(), "the app did not exit after ctrl+q:\n" + screen()
        assert exit_file.read_text().strip() == "0"
    finally:
        tmux("kill-session", "-t", SESSION)
    runs = list((home / "runs").iterdir())
    assert len(runs) == 1
    st = json.loads((runs[0] / "status.json").read_text())
    assert st["status"] == "finished" and st["reason"] == "max_seconds"
    assert (runs[0] / "best.safetensors").exists() and (runs[0] / "last.safetensors").exists()
    cfg = json.loads((runs[0] / "config.json").read_text())
    assert cfg["model"]["hidden_size"] == 32 and cfg["corpus"]["name"] == "python-docs"
