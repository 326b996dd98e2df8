"""Work is never lost to a signal or a closed pipe: SIGTERM to the app saves and stops the run and
gives the terminal back; a training command whose output pipe closes keeps its run honest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from charlm_tui.core.store.run_store import list_runs, open_run
from tests.conftest import TINY_CLI, cli
from tests.tmux import Tmux, require_tmux_and_exe, wait

TINY = TINY_CLI


def test_sigterm_to_the_app_saves_stops_and_restores_the_terminal(home):
    exe = require_tmux_and_exe()
    t = Tmux("charlm-term")
    t.start(f"CHARLM_TUI_HOME={home} {exe}; echo APP-EXITED-$?; sleep 30")
    try:
        t.wait_screen("465,048")
        t.keys("Enter")
        t.wait_screen("parameters")
        t.keys(*["Tab"] * 6, "End", "C-u", "16", "Tab", "End", "C-u", "32")  # from the presets to the embedding
        t.keys("C-s")
        t.wait(lambda: list_runs(home) and list_runs(home)[0].steps > 0, 240, "training to start")
        info = list_runs(home)[0]
        run = open_run(home, info.id)
        pid = run.status()["pid"]
        os.kill(pid, signal.SIGTERM)
        st = wait(lambda: run.status() if run.status().get("status") == "stopped" else None, 30, "status stopped")
        assert st["reason"] == "terminated"
        t.wait_screen("APP-EXITED-0", 30)
        assert t.run("display", "-p", "-t", t.session, "#{alternate_on} #{mouse_any_flag}").split() == ["0", "0"]
        assert not (run.path / "lock").exists() and (run.path / "last.safetensors").is_file()
    finally:
        t.kill()
    r = cli("train", "--resume", info.id, "--max-steps", str(st["steps"] + 3))
    assert r.returncode == 0, r.stderr


def test_train_output_to_a_closed_pipe_keeps_training_and_ends_honestly(home, tiny_file):
    # `charlm-tui train ... | head -1`: the reader goes after the first line
    proc = subprocess.Popen(
        [sys.executable, "-m", "charlm_tui", "train", str(tiny_file), *TINY, "--max-steps", "40"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.readline()
    proc.stdout.close()
    rc = proc.wait(timeout=120)
    err = proc.stderr.read().decode()
    [info] = list_runs(home)
    assert info.status == "finished" and info.steps == 40, (info, err)  # the training is not the output
    assert rc == 0 and "Traceback" not in err
    assert len(open_run(home, info.id).metrics()) == 8


def test_a_failed_detach_leaves_no_damaged_run_folder(home, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    r = cli("train", str(empty), "--detach", *TINY)
    assert r.returncode == 1 and "empty" in r.stderr
    assert list_runs(home) == [] and not list((home / "runs").iterdir())


def test_a_training_command_stopped_by_a_signal_saves_and_exits_128_plus_the_signal(home, tiny_file):
    """It exited 0, as if the run had finished: `train ... && sample ...` went on, and a job
    scheduler that sends SIGTERM took the run for done."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "charlm_tui", "train", str(tiny_file), *TINY, "--max-steps", "100000", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait(lambda: list_runs(home) and list_runs(home)[0].steps > 0, 120, "the run's first saved step")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    [info] = list_runs(home)
    assert proc.returncode == 128 + signal.SIGINT == 130, err
    assert info.status == "stopped" and "state saved" in out and "Traceback" not in err
    assert (open_run(home, info.id).path / "last.safetensors").is_file()
