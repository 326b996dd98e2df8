"""What remote use (SSH, a browser tab) found: redraw volume, hangs and stale panels."""

import json
import socket
import subprocess
import time

import pytest
from textual.widgets import DataTable

from charlm_tui.core.store.process import boot_id, start_time
from charlm_tui.core.store.run_store import list_runs
from charlm_tui.core.training.jobs import new_job
from charlm_tui.core.training.trainer import TrainConfig
from charlm_tui.tui.app import make_app
from charlm_tui.tui.controllers import training as training_control
from charlm_tui.tui.screens import runs as runs_screen
from charlm_tui.tui.screens.dialogs import ConfirmScreen
from charlm_tui.tui.screens.train import TrainScreen
from tests.tui.test_app import wait_for

MODEL = {"cell": "gru", "embed_dim": 4, "hidden_size": 8, "num_layers": 1}


def finished_run(home, tiny_file):
    job = new_job(
        home, str(tiny_file), MODEL, TrainConfig(batch_size=4, num_steps=8, eval_every=5, max_steps=5, seed=1)
    )
    job.start()
    return job.run


@pytest.fixture
def held_run(home, tiny_file):
    """A run whose lock a live process on this machine holds, as if it trained there."""
    run = finished_run(home, tiny_file)
    p = subprocess.Popen(["sleep", "60"])
    (run.path / "lock").write_text(
        json.dumps(
            {
                "pid": p.pid,
                "host": socket.gethostname(),
                "start": start_time(p.pid),
                "boot": boot_id(),
                "t": time.time(),
            }
        )
    )
    status = run.path / "status.json"
    status.write_text(json.dumps({**json.loads(status.read_text()), "status": "running", "heartbeat": time.time()}))
    yield run
    p.kill()
    p.wait()


async def test_chart_redraws_are_throttled_by_time_even_when_evaluations_are_frequent(home, monkeypatch):
    """Evaluations arrive every 20 ms (as fast as a small model evaluates every step); each used to
    redraw both charts at once. The app's clock is a fake one that the test moves: no wall time."""
    from charlm_tui.core.config import TrainEvent
    from charlm_tui.tui.messages import TrainUpdate

    monkeypatch.setattr(training_control, "CHART_REDRAW_S", 1.0)
    now = [1000.0]
    drawn: list[float] = []
    real = TrainScreen.update_charts

    def spy(self):
        drawn.append(now[0])
        real(self)

    monkeypatch.setattr(TrainScreen, "update_charts", spy)
    app = make_app(home, clock=lambda: now[0])
    pending: list = []  # the app's timers, run by the test on the fake clock

    class FakeTimer:
        def stop(self):
            pending[:] = [(due, cb, t) for due, cb, t in pending if t is not self]

    def set_timer(wait, callback=None, **kw):
        if getattr(callback, "__qualname__", "").endswith("_charts_changed.<locals>.due"):  # the chart's own
            t = FakeTimer()
            pending.append((now[0] + wait, callback, t))
            return t
        return real_set_timer(wait, callback, **kw)  # Textual's own timers run as usual

    def run_due_timers():
        for _due, cb, t in [p for p in pending if p[0] <= now[0]]:
            t.stop()
            cb()

    real_set_timer = app.set_timer
    async with app.run_test(size=(100, 30)) as pilot:
        monkeypatch.setattr(app, "set_timer", set_timer)
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "train", "the Train screen")
        app.training.live.state = "running"
        await pilot.pause()
        drawn.clear()
        t0 = now[0]
        for evals in range(1, 151):  # 3 s of the app's time, an evaluation every 20 ms
            now[0] = t0 + 0.02 * evals
            run_due_timers()
            app.on_train_update(
                TrainUpdate(
                    TrainEvent(
                        "eval",
                        evals,
                        0.1,
                        1000,
                        train_loss=2.0,
                        val_nll=1.5,
                        val_ppl=4.48,
                        val_bpc=2.16,
                        lr=1e-3,
                        elapsed=evals,
                    )
                )
            )
            await pilot.pause()
        assert 3 <= len(drawn) <= 4, drawn  # one a second of the app's time, not 150
        gaps = [b - a for a, b in zip(drawn, drawn[1:])]
        assert all(g >= 1.0 - 1e-9 for g in gaps), gaps
        # the last evaluations are drawn when their time comes
        last = drawn[-1]
        assert pending, "a redraw of the last evaluations is due"
        now[0] = t0 + 3.0 + 1.0
        run_due_timers()
        await wait_for(pilot, lambda: drawn[-1] > last, "the pending redraw of the last evaluations")
        assert len(app.screen.query_one("#chart-ppl")._series["val ppl"][0]) == 150


async def test_runs_screen_follows_a_run_another_process_trains(home, tiny_file, monkeypatch):
    monkeypatch.setattr(runs_screen, "REFRESH_S", 0.3)
    run = finished_run(home, tiny_file)
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.current_mode == "runs")
        table = app.screen.query_one(DataTable)
        assert str(table.get_row(run.id)[4]) == "5"
        status = run.path / "status.json"
        status.write_text(json.dumps({**json.loads(status.read_text()), "steps": 350}))
        await wait_for(pilot, lambda: str(table.get_row(run.id)[4]) == "350", timeout=5)


async def test_resume_of_a_run_trained_elsewhere_watches_it_instead(home, held_run):
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.current_mode == "runs")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.current_mode == "train")
        assert (
            app.training.attached is not None and app.training.attached.id == held_run.id and app.training.job is None
        )
        assert any("watching it instead" in n.message for n in app._notifications)
        assert held_run.id in str(app.screen.query_one("#train-title").render())


async def test_quit_after_a_refused_resume_does_not_wait(home, held_run, monkeypatch):
    # the lock is taken between the check and the resume (another process won the race)
    monkeypatch.setattr(training_control.TrainingController, "_trained_elsewhere", lambda self, run_id: None)
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        app.training.job = object()  # an earlier run of this session: quitting waits for the training thread
        app.training.resume(held_run.id)
        await wait_for(pilot, lambda: app.training.live.state == "failed")
        assert "is being trained by pid" in app.training.live.log[-1]
        assert app.training.done.wait(timeout=2), "the worker's early return never said it was done"


async def test_a_run_stopped_before_any_evaluation_samples_from_its_last_weights(home, tiny_file):
    run = finished_run(home, tiny_file)
    (run.path / "best.safetensors").unlink()  # as a run stopped before its first evaluation
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        app.generation.settings.run_id = run.id
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.current_mode == "generate")
        app.screen.query_one("#gen-prompt").value = "the "
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: not app.generation.streaming and len(app.screen.query_one("#gen-transcript").text) > 50
        )
        assert any("sampling from its last weights" in n.message for n in app._notifications)


async def test_enter_in_the_delete_question_keeps_the_run_and_y_deletes_it(home, tiny_file):
    """Found using the app: 'def ' + Enter typed on the Runs screen (meant for the prompt box)
    pressed d, then Enter answered the focused 'Yes' and deleted the run. 'No' has the focus now."""
    run = finished_run(home, tiny_file)
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.current_mode == "runs")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.focused is not None and app.screen.focused.id == "no"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert [r.id for r in list_runs(home)] == [run.id] and run.path.is_dir()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: list_runs(home) == [])
    assert not run.path.exists()


async def test_a_late_message_for_a_screen_that_is_gone_is_dropped(home):
    """Under load a worker's result (reference figures) arrived while the app was closing: telling
    the Train screen raised KeyError ('No screen called train installed') and failed the app."""
    from textual.message import Message

    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.runs.tell("no-such-screen", Message()) is False


async def test_a_status_that_grows_widens_its_column(home, tiny_file, monkeypatch):
    """Found using the app at 80x24: a run listed as 'running' finished and read 'finishe' (the
    changed cell was updated in place without widening its column)."""
    monkeypatch.setattr(runs_screen, "REFRESH_S", 0.3)
    run = finished_run(home, tiny_file)
    status = run.path / "status.json"
    st = json.loads(status.read_text())
    status.write_text(json.dumps({**st, "status": "failed", "reason": "failed"}))
    app = make_app(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.current_mode == "runs")
        table = app.screen.query_one(DataTable)
        column = table.ordered_columns[2]
        assert str(column.label) == "status" and str(table.get_row(run.id)[2]) == "failed"
        status.write_text(json.dumps(st))
        await wait_for(pilot, lambda: str(table.get_row(run.id)[2]) == "finished", "the finished status", timeout=5)
        assert column.content_width >= len("finished")
