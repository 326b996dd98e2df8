"""Training that outlives the terminal: detached runs, watch, control from any terminal,
the TUI attached to another process's run, SIGHUP under the TUI, and browser mode."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from charlm_tui.core.store.run_store import list_runs, open_run
from tests.conftest import TINY_CLI, cli
from tests.tmux import Tmux, require_tmux_and_exe, wait

TINY = TINY_CLI + ["--max-steps", "100000000"]


def n_metrics(run) -> int:
    return len(run.metrics())


def start_detached(home, tiny_file) -> str:
    # the launching shell is the leader of its own process group; killing the group must not kill training
    shell = subprocess.Popen(
        [
            "bash",
            "-c",
            f"{sys.executable} -m charlm_tui train {tiny_file} --home {home} --detach {' '.join(TINY)}; sleep 60",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    line = shell.stdout.readline()
    assert "is training in the background" in line, line
    run_id = line.split()[1]
    os.killpg(shell.pid, signal.SIGHUP)
    os.killpg(shell.pid, signal.SIGKILL)
    shell.wait()
    return run_id


def test_detached_run_survives_its_terminal_and_stops_through_the_control_path(home, tiny_file):
    run_id = start_detached(home, tiny_file)
    run = open_run(home, run_id)
    before = n_metrics(run)
    wait(lambda: n_metrics(run) > before + 3, 60, "new metrics after the launching group was killed")
    assert run.status()["status"] == "running"
    watcher = subprocess.Popen(
        [sys.executable, "-m", "charlm_tui", "watch", run_id, "--home", str(home), "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    r = cli("runs", "pause", run_id, "--home", str(home))
    assert r.returncode == 0 and "paused" in r.stdout, r.stderr
    paused_at = run.status()["steps"]
    time.sleep(1.0)
    assert run.status()["steps"] == paused_at
    r = cli("runs", "resume", run_id, "--home", str(home))
    assert r.returncode == 0 and "running" in r.stdout, r.stderr
    r = cli("runs", "stop", run_id, "--home", str(home))
    assert r.returncode == 0 and "stopped" in r.stdout, r.stderr
    out, _ = watcher.communicate(timeout=30)
    lines = [json.loads(x) for x in out.splitlines()]
    assert any(x["event"] == "eval" for x in lines)
    assert lines[-1] == {"event": "status", "status": "stopped", "reason": "stopped", "steps": lines[-1]["steps"]}
    st = run.status()
    assert st["status"] == "stopped" and (run.path / "last.safetensors").exists()
    assert (run.path / "train.log").exists()
    wait(lambda: run.lock_holder() is None, 10, "the trainer to exit")


def test_control_refuses_a_run_that_is_not_training(home, tiny_file):
    r = cli("train", str(tiny_file), "--home", str(home), *TINY[:-2], "--max-steps", "5", "--json")
    rid = json.loads(r.stdout.splitlines()[-1])["run_id"]
    r = cli("runs", "stop", rid, "--home", str(home))
    assert r.returncode == 1 and "is not training" in r.stderr


async def test_tui_follows_and_stops_a_run_of_another_process(home, tiny_file):
    from charlm_tui.tui.app import make_app

    run_id = start_detached(home, tiny_file)
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        app.training.attach(run_id)
        for _ in range(600):
            if len(app.training.live.val_x) >= 3:
                break
            await pilot.pause(0.1)
        seen = len(app.training.live.val_x)
        assert seen >= 3 and app.current_mode == "train" and app.training.live.state == "running"
        for _ in range(600):
            if len(app.training.live.val_x) > seen:
                break
            await pilot.pause(0.1)
        assert len(app.training.live.val_x) > seen  # new metrics keep arriving
        last = app.training.live.last  # how far through its limits, as the run's status says
        assert last.budget is not None and 0 < last.budget <= 1
        await pilot.press("s")
        for _ in range(300):
            if app.training.live.state == "stopped":
                break
            await pilot.pause(0.1)
        assert app.training.live.state == "stopped"
    assert open_run(home, run_id).status()["status"] == "stopped"


def test_sighup_under_the_tui_saves_and_marks_hangup(home, tmp_path):
    exe = require_tmux_and_exe()
    t = Tmux("charlm-hup")
    t.start(f"CHARLM_TUI_HOME={home} {exe}")
    try:
        t.wait_screen("465,048")
        t.keys("Enter")
        t.wait_screen("parameters")  # the form has focus only once the screen is up: type after it
        t.keys(*["Tab"] * 6, "End", "C-u", "16", "Tab", "End", "C-u", "32")  # from the presets to the embedding
        t.keys("C-s")
        t.wait(lambda: list_runs(home) and list_runs(home)[0].steps > 0, 240, "training to start")
    finally:
        t.kill()  # SIGHUP to the app
    info = list_runs(home)[0]
    run = open_run(home, info.id)
    st = wait(lambda: run.status() if run.status().get("status") == "stopped" else None, 30, "status stopped")
    assert st["reason"] == "hangup"
    pid = st["pid"]
    wait(
        lambda: not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower(),
        15,
        "the app process to exit",
    )
    r = cli("train", "--resume", info.id, "--max-steps", str(st["steps"] + 3), "--home", str(home))
    assert r.returncode == 0, r.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
