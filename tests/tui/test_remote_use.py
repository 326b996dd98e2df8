"""What remote use (SSH, a browser tab) found: redraw volume, hangs and stale panels."""

import json
import socket
import subprocess
import time

import pytest
from textual.widgets import DataTable

from charlm_tui.core.jobs import new_job
from charlm_tui.core.process import boot_id, start_time
from charlm_tui.core.training import TrainConfig
from charlm_tui.tui import training_actions
from charlm_tui.tui.app import make_app
from charlm_tui.tui.screens import runs as runs_screen
from charlm_tui.tui.screens.train import TrainScreen
from tests.tui.test_app import configure_tiny, wait_for

MODEL = {"cell": "gru", "embed_dim": 4, "hidden_size": 8, "num_layers": 1}


def finished_run(home, tiny_file):
    job = new_job(home, str(tiny_file), MODEL, TrainConfig(batch_size=4, num_steps=8, eval_every=5, max_steps=5,
                                                           seed=1))
    job.start()
    return job.run


@pytest.fixture
def held_run(home, tiny_file):
    """A run whose lock a live process on this machine holds, as if it trained there."""
    run = finished_run(home, tiny_file)
    p = subprocess.Popen(["sleep", "60"])
    (run.path / "lock").write_text(json.dumps({"pid": p.pid, "host": socket.gethostname(),
                                               "start": start_time(p.pid), "boot": boot_id(), "t": time.time()}))
    status = run.path / "status.json"
    status.write_text(json.dumps({**json.loads(status.read_text()), "status": "running", "heartbeat": time.time()}))
    yield run
    p.kill()
    p.wait()


async def test_chart_redraws_are_throttled_by_time_even_when_every_step_evaluates(home, corpus_file, monkeypatch):
    monkeypatch.setattr(training_actions, "CHART_REDRAW_S", 1.0)
    drawn: list[float] = []
    real = TrainScreen.update_charts

    def spy(self):
        if self.app.train_state.state == "running":  # the end of a run redraws at once: not counted
            drawn.append(time.monotonic())
        real(self)
    monkeypatch.setattr(TrainScreen, "update_charts", spy)
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.corpus is not None)
        await configure_tiny(pilot, app, max_epochs="1000", eval_every="1", patience="100000")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(app.train_state.val_x) >= 3)
        drawn.clear()
        t0, evals0 = time.monotonic(), len(app.train_state.val_x)
        await pilot.pause(4.0)
        evals = len(app.train_state.val_x) - evals0
        elapsed = time.monotonic() - t0
        await pilot.press("s")
        await wait_for(pilot, lambda: app.train_state.state in ("stopped", "finished"))
    assert len(drawn) < evals  # every step evaluates; each used to redraw both charts at once
    assert len(drawn) <= elapsed / 1.0 + 2
    gaps = [b - a for a, b in zip(drawn, drawn[1:])]
    assert all(g >= 0.95 for g in gaps), gaps
    assert drawn, "a pending redraw is made when its time comes"


async def test_runs_screen_follows_a_run_another_process_trains(home, tiny_file, monkeypatch):
    monkeypatch.setattr(runs_screen, "REFRESH_S", 0.3)
    run = finished_run(home, tiny_file)
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.current_mode == "runs")
        table = app.screen.query_one(DataTable)
        assert table.get_row(run.id)[4] == "5"
        status = run.path / "status.json"
        status.write_text(json.dumps({**json.loads(status.read_text()), "steps": 350}))
        await wait_for(pilot, lambda: table.get_row(run.id)[4] == "350", timeout=5)


async def test_resume_of_a_run_trained_elsewhere_watches_it_instead(home, held_run):
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.current_mode == "runs")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.current_mode == "train")
        assert app.attached is not None and app.attached.id == held_run.id and app.job is None
        assert any("watching it instead" in n.message for n in app._notifications)
        assert held_run.id in str(app.screen.query_one("#train-title").render())


async def test_quit_after_a_refused_resume_does_not_wait(home, held_run, monkeypatch):
    # the lock is taken between the check and the resume (another process won the race)
    monkeypatch.setattr(training_actions.TrainingActions, "_trained_elsewhere", lambda self, run_id: None)
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        app.job = object()  # an earlier run of this session: quitting waits for the training thread
        app.resume_training(held_run.id)
        await wait_for(pilot, lambda: app.train_state.state == "failed")
        assert "is being trained by pid" in app.train_state.log[-1]
        assert app._train_done.wait(timeout=2), "the worker's early return never said it was done"
