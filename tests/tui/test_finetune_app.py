"""Fine-tuning from the app: Runs (f) -> Configure, which says so and locks the shape -> a new run
whose config names its parent."""

import json

from textual.widgets import Input, Select

from charlm_tui.core.store.run_store import list_runs
from charlm_tui.tui.app import make_app
from tests.tui.test_app import shown, wait_for
from tests.tui.test_remote_use import finished_run


async def test_fine_tune_the_selected_run_on_the_picked_corpus(home, tiny_file):
    parent = finished_run(home, tiny_file)  # gru, embedding 4, hidden 8, 1 layer
    app = make_app(home, corpus_spec=str(tiny_file))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.corpora.corpus is not None)
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.current_mode == "runs")
        await pilot.pause(0.2)
        await pilot.press("f")
        await wait_for(pilot, lambda: app.current_mode == "configure")
        await pilot.pause(0.2)
        screen = app.screen
        assert f"fine-tuning {parent.id} on tiny" in shown(screen.query_one("#config-corpus"))
        assert screen.query_one("#hidden_size", Input).value == "8" and screen.query_one("#hidden_size").disabled
        assert screen.query_one("#cell", Select).value == "gru" and screen.query_one("#cell").disabled
        assert not screen.query_one("#batch_size").disabled  # training options stay open
        # fit to budget does not size a fine-tuned run: the default preset's training settings, as
        # `train --init-from` takes them, and a line that says so (it said "settings typed by hand
        # are kept", typed by nobody)
        from charlm_tui.core.config import FIXED_DEFAULT, PRESETS
        from charlm_tui.tui.screens.configure import FINE_TUNE_FIT

        assert screen.query_one("#preset", Select).value == "fit"
        await wait_for(pilot, lambda: str(screen.query_one("#fit-reason").render()) == FINE_TUNE_FIT, "the line")
        default_train = PRESETS[FIXED_DEFAULT][1]
        assert screen.query_one("#eval_every", Input).value == str(default_train["eval_every"])
        from charlm_tui.core.training.trainer import TrainConfig

        # the plateau cuts are on, as in the preset (fit to budget turns them off)
        assert screen.query_one("#lr_patience", Input).value == str(TrainConfig(**default_train).lr_patience) != "off"
        for fid, value in (("batch_size", "4"), ("num_steps", "8"), ("eval_every", "5"), ("max_minutes", "0.05")):
            screen.query_one(f"#{fid}", Input).value = value
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(list_runs(home)) == 2 and not app.training.training, timeout=90)
        child = next(r for r in list_runs(home) if r.id != parent.id)
        cfg = json.loads((home / "runs" / child.id / "config.json").read_text())
        assert cfg["parent"]["run_id"] == parent.id and cfg["model"]["hidden_size"] == 8
        assert child.parent.startswith(f"{parent.id} (best weights")
        assert app.training.fine_tune is None  # the next run is a new one again


async def test_ctrl_t_makes_it_a_new_run_again(home, tiny_file):
    parent = finished_run(home, tiny_file)
    app = make_app(home, corpus_spec=str(tiny_file))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.corpora.corpus is not None)
        assert app.training.fine_tune_from(parent.id)
        await wait_for(pilot, lambda: app.current_mode == "configure")
        await pilot.pause(0.2)
        assert app.screen.query_one("#embed_dim").disabled
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.training.fine_tune is None and not app.screen.query_one("#embed_dim").disabled
        assert "fine-tuning" not in shown(app.screen.query_one("#config-corpus"))
        # a new run again: fit to budget sizes it
        await wait_for(
            pilot, lambda: str(app.screen.query_one("#fit-reason").render()).startswith("fit to budget: "), "a refit"
        )
        assert "typed by hand" not in str(app.screen.query_one("#fit-reason").render())


async def test_the_parameter_count_is_of_the_union_vocabulary_the_run_will_train(home, tiny_file, tmp_path):
    """Configure showed the corpus's vocabulary (95,663 parameters shown, 99,688 trained)."""
    from charlm_tui.core.config import ModelConfig, count_parameters
    from charlm_tui.core.store.run_store import open_run

    parent = finished_run(home, tiny_file)
    other = tmp_path / "other.txt"
    other.write_text("XYZ xyz! " * 200, encoding="utf-8")  # shares only ' ' with the parent's text
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        app.corpora.select(str(other))
        await wait_for(pilot, lambda: getattr(app.corpora.corpus, "name", None) == "other", "other.txt to load")
        assert app.training.fine_tune_from(parent.id)
        await wait_for(pilot, lambda: app.current_mode == "configure", "the Configure screen")
        await pilot.pause(0.2)
        union = set(open_run(home, parent.id).vocab().chars) | set("XYZxyz! ")
        m = open_run(home, parent.id).model_config()
        n = count_parameters(ModelConfig(len(union) + 1, m.cell, m.embed_dim, m.hidden_size, m.num_layers))
        assert f"parameters {n:,} " in shown(app.screen.query_one("#config-summary"))
