"""What remote use (SSH, a browser tab) found: redraw volume, hangs and stale panels."""

import time

import pytest

from charlm_tui.tui import training_actions
from charlm_tui.tui.app import make_app
from charlm_tui.tui.screens.train import TrainScreen
from tests.tui.test_app import configure_tiny, corpus_file, wait_for  # noqa: F401  (fixture)


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
    import json

    from textual.widgets import DataTable

    from charlm_tui.core.jobs import new_job
    from charlm_tui.core.training import TrainConfig
    from charlm_tui.tui.screens import runs as runs_screen

    monkeypatch.setattr(runs_screen, "REFRESH_S", 0.3)
    job = new_job(home, str(tiny_file), {"cell": "gru", "embed_dim": 4, "hidden_size": 8, "num_layers": 1},
                  TrainConfig(batch_size=4, num_steps=8, eval_every=5, max_steps=5, seed=1))
    job.start()
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.current_mode == "runs")
        table = app.screen.query_one(DataTable)
        assert table.get_row(job.run.id)[4] == "5"
        status = job.run.path / "status.json"
        status.write_text(json.dumps({**json.loads(status.read_text()), "steps": 350}))
        await wait_for(pilot, lambda: table.get_row(job.run.id)[4] == "350", timeout=5)
