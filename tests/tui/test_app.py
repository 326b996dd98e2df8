"""Pilot tests: each screen's flow with a tiny real model."""

import json
import time

import pytest
from textual.geometry import Region
from textual.widgets import DataTable, Input, Select

from charlm_tui.core.store.run_store import list_runs, open_run
from charlm_tui.tui.app import make_app
from charlm_tui.tui.screens.dialogs import ConfirmScreen
from charlm_tui.tui.screens.help import HelpScreen
from charlm_tui.tui.widgets.transcript import MAX_CHARS

TINY_SETTINGS = {
    "embed_dim": "8",
    "hidden_size": "16",
    "num_layers": "1",
    "dropout": "0",
    "batch_size": "4",
    "num_steps": "10",
    "eval_every": "5",
    "max_epochs": "1",
    "patience": "50",
}


async def wait_for(pilot, cond, what: str = "", timeout=60.0):
    """Wait until ``cond()``; fail with what it waited for and where the app was."""
    for _ in range(int(timeout / 0.05)):
        if cond():
            return
        await pilot.pause(0.05)
    app = pilot.app
    where = f"mode={getattr(app, 'current_mode', None)}"
    training = getattr(app, "training", None)
    if training is not None:
        where += f" state={training.live.state} log={training.live.log[-3:]}"
    where += f" notes={[n.message for n in app._notifications][-3:]}"
    raise AssertionError(f"waited {timeout:g} s for {what or 'a condition'}, in vain; {where}")


async def open_configure(pilot, app):
    """From the corpus screen, once the corpus is loaded, to the Configure screen."""
    await wait_for(pilot, lambda: app.corpora.corpus is not None, "the corpus to load")
    await pilot.press("enter")  # corpus -> configure
    await wait_for(pilot, lambda: app.current_mode == "configure", "the Configure screen")
    return app.screen


async def configure_tiny(pilot, app, **extra):
    screen = await open_configure(pilot, app)
    for fid, value in {**TINY_SETTINGS, **extra}.items():
        screen.query_one(f"#{fid}", Input).value = value
    await pilot.pause()
    return screen


async def train_tiny(pilot, app, **extra):
    await wait_for(pilot, lambda: app.corpora.corpus is not None)
    await configure_tiny(pilot, app, **extra)
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: app.current_mode == "train")
    await wait_for(pilot, lambda: app.training.live.state in ("finished", "stopped", "failed"))


async def start_long_run(pilot, app):
    """A tiny model that trains until told to stop."""
    await wait_for(pilot, lambda: app.corpora.corpus is not None)
    await configure_tiny(pilot, app, max_epochs="1000", eval_every="1000")
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: app.training.live.state == "running")


async def test_default_corpus_is_selected_and_described_on_first_launch(home):
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.corpora.corpus is not None)
        assert app.corpora.corpus.name == "python-docs"
        # the panel is drawn a moment after the corpus is set (seen late on a loaded machine)
        await wait_for(pilot, lambda: "465,048" in str(app.screen.query_one("#corpus-stats").render()))
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


def shown(widget) -> str:
    """The text a widget draws on screen now, line by line."""
    strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return "\n".join(strip.text for strip in strips)


async def test_choose_train_generate_runs_resume(home, corpus_file):
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        await train_tiny(pilot, app)
        st = app.training.live
        assert st.state == "finished"
        assert st.val_x and st.val_x[0] == 5 and len(st.val_ppl) == len(st.val_x)
        assert any("checkpoint saved" in line for line in st.log)
        [info] = list_runs(home)
        assert info.status == "finished" and info.corpus == "tiny" and info.steps == st.last.step

        # generate: prompt with a character the model never saw; temperature keys act mid-stream
        await pilot.press("4")
        await wait_for(pilot, lambda: app.current_mode == "generate")
        assert app.generation.settings.run_id == info.id
        app.generation.settings.length = 100_000_000  # long enough to still be streaming when the keys arrive
        inp = app.screen.query_one("#gen-prompt", Input)
        inp.value = "the Ωcat"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.screen.query_one("#gen-transcript").text) > 20)
        assert any("never saw" in n.message for n in app._notifications)  # before it times out
        # the unseen character is shown as U+FFFD (checked now: at full speed the transcript keeps
        # only its last MAX_CHARS characters, so the prompt scrolls out of it)
        assert app.screen.query_one("#gen-transcript").text.plain.startswith("» the \ufffdcat")
        t0 = app.generation.settings.control.temperature
        await pilot.press("right_square_bracket")
        assert app.generation.settings.control.temperature == pytest.approx(t0 + 0.1)
        # the stream's speed: down to 25 chars/s mid-stream, and the stream follows at once
        for _ in range(4):
            await pilot.press("left_parenthesis")
        assert app.generation.settings.pace == 25 and "speed 25/s" in shown(app.screen.query_one("#gen-settings"))
        await pilot.pause(0.3)  # characters already posted at the old speed arrive
        before = len(app.screen.query_one("#gen-transcript").text)
        t0 = time.monotonic()
        await pilot.pause(1.0)
        grown = len(app.screen.query_one("#gen-transcript").text) - before
        # at most 25/s over the time that really passed (a loaded machine stretches the pause), with
        # 0.1 s of catch-up and one flush in flight
        assert grown <= 25 * (time.monotonic() - t0 + 0.1) + 2
        await wait_for(pilot, lambda: len(app.screen.query_one("#gen-transcript").text) > before, "the stream to go on")
        for _ in range(10):
            await pilot.press("right_parenthesis")
        assert app.generation.settings.pace == 0 and "speed max" in shown(app.screen.query_one("#gen-settings"))
        await pilot.press("escape")  # stop the stream
        await wait_for(pilot, lambda: not app.generation.streaming)
        text = app.screen.query_one("#gen-transcript").text.plain
        assert text.endswith("[stopped]") and len(text) <= MAX_CHARS
        # the focus never left the prompt box; with no stream, [ is text again
        t1 = app.generation.settings.control.temperature
        await pilot.press("left_square_bracket")
        assert app.focused is inp and inp.value == "[" and app.generation.settings.control.temperature == t1
        inp.value = ""

        # runs screen lists it; resume trains further and appends history
        await pilot.press("5")  # the prompt has the focus: a digit is text there
        assert app.current_mode == "generate"
        await pilot.press("f6")  # F-keys switch screens from anywhere
        await wait_for(pilot, lambda: app.current_mode == "runs")
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1
        steps_before = info.steps
        await pilot.press("r")  # it finished at its epoch limit (1): resuming trains another epoch
        await wait_for(
            pilot, lambda: app.training.live.state == "finished" and app.training.live.last.step > steps_before
        )
        metrics = open_run(home, info.id).metrics()
        assert metrics[0]["step"] == 5 and metrics[-1]["step"] > steps_before
        assert app.training.live.last.epoch == pytest.approx(2.0)
        assert any("epoch limit; training 1 more epoch" in n.message for n in app._notifications)


async def test_stop_key_saves_and_marks_stopped(home, corpus_file):
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        await start_long_run(pilot, app)
        await pilot.press("space")  # pause
        await wait_for(pilot, lambda: app.training.live.state == "paused")
        await pilot.press("space")
        await wait_for(pilot, lambda: app.training.live.state == "running")
        await pilot.press("s")
        await wait_for(pilot, lambda: app.training.live.state == "stopped")
        run = open_run(home, app.training.live.run_id)
        assert run.status()["status"] == "stopped" and (run.path / "last.safetensors").exists()


async def test_invalid_settings_are_refused_inline(home, corpus_file):
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.corpora.corpus is not None)
        screen = await configure_tiny(pilot, app, batch_size="0", lr="fast")
        err = str(screen.query_one("#config-error").render())
        # both wrong fields, each in core's words (core.settings)
        assert "batch must be at least 1, got 0" in err and "learning rate: expected a number, got 'fast'" in err
        assert screen.query_one("#start").disabled
        await pilot.press("ctrl+s")
        assert app.current_mode == "configure" and list_runs(home) == []
        screen.query_one("#batch_size", Input).value, screen.query_one("#lr", Input).value = "4", "0.003"
        for fid, value, msg in (
            ("hidden_size", "20000", "GiB to train"),  # estimated before anything is allocated
            ("num_layers", str(10**20), "between 1 and 64"),
        ):
            screen.query_one(f"#{fid}", Input).value = value
            await pilot.pause()
            assert msg in str(screen.query_one("#config-error").render()) and screen.query_one("#start").disabled
            screen.query_one(f"#{fid}", Input).value = TINY_SETTINGS[fid]


async def test_quit_while_training_asks_then_saves_and_exits(home, corpus_file):
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        await start_long_run(pilot, app)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running, timeout=10)
    st = json.loads((open_run(home, app.training.live.run_id).path / "status.json").read_text())
    assert st["status"] == "stopped" and st["reason"] == "quit"


async def test_add_a_corpus_from_the_app_and_bad_input_notifies(home, tmp_path):
    good = tmp_path / "mine.txt"
    good.write_text("hello there, general kenobi\n" * 20)
    app = make_app(home)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("a")
        inp = app.screen.query_one("#corpus-add", Input)
        inp.value = str(tmp_path / "missing.txt")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("no such file" in n.message for n in app._notifications))
        assert inp.value == str(tmp_path / "missing.txt") and inp.has_focus  # kept, to be fixed in place
        inp.value = str(good)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.corpora.corpus is not None and app.corpora.corpus.name == "mine")
        assert (home / "corpora" / "mine.txt").exists()
        assert inp.value == "" and not inp.has_focus  # added: the box is cleared for the next one


async def test_lr_schedule_is_chosen_in_the_form_and_reaches_the_run(home, corpus_file):
    from textual.widgets import Select

    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.corpora.corpus is not None)
        screen = await configure_tiny(pilot, app, max_epochs="2")
        select = screen.query_one("#lr_schedule", Select)
        assert select.value == "cosine"  # the default preset: warmup and cosine decay to its 5 minutes
        assert "cosine" in str(screen.query_one("#lr-help").render())
        select.value = "plateau"
        await pilot.pause()
        assert "plateau" in str(screen.query_one("#lr-help").render())
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.current_mode == "train")
        await wait_for(pilot, lambda: app.training.live.state == "finished")
    run = open_run(home, list_runs(home)[0].id)
    assert run.config["train"]["lr_schedule"] == "plateau"
    assert run.metrics()[0]["lr"] == pytest.approx(3e-3)  # no warmup, no decay: the LR as set


async def test_the_schedule_line_says_what_the_plateau_cuts_do(home, corpus_file):
    """Fit to budget turns the plateau cuts off: the line under the form said 'halved on plateaus'
    all the same. It follows LR patience and factor as typed."""
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_configure(pilot, app)

        def line() -> str:
            return str(screen.query_one("#lr-help").render())

        await wait_for(pilot, lambda: screen.query_one("#lr_patience", Input).value == "off")
        assert line() == "LR cosine: warmup, then decay to the end of the budget; no plateau cuts"
        screen.query_one("#lr_patience", Input).value = "2"
        await pilot.pause()
        assert line() == "LR cosine: warmup, then decay to the end of the budget; halved on plateaus"
        screen.query_one("#lr_factor", Input).value = "0.3"
        await pilot.pause()
        assert line().endswith("; x 0.3 on plateaus")
        screen.query_one("#lr_factor", Input).value = "2"  # out of range: the error line names it
        await pilot.pause()
        assert line().endswith("; cut on plateaus")
        screen.query_one("#lr_schedule", Select).value = "plateau"
        await pilot.pause()
        assert line() == "LR plateau: constant learning rate; cut on plateaus"


async def test_the_form_says_when_evaluating_would_take_much_of_the_time(home, corpus_file):
    """The default preset on a 12 MB corpus spent 42% of its time evaluating, and nothing said so."""
    from charlm_tui.core import sizing

    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await configure_tiny(pilot, app, eval_every="100")

        def summary() -> str:
            return str(screen.query_one("#config-summary").render())

        assert "evaluating" not in summary()  # at most once per epoch here: a few percent
        screen.query_one("#eval_every", Input).value = "1"
        await pilot.pause()
        train, val = app.corpora.corpus.split_sizes(0.1)
        steps = train // 40  # batch 4 x BPTT 10
        share = sizing.evaluation_share(val, 1, 40)
        assert share > 0.5 and sizing.interval_for_share(val, 40) <= steps
        assert summary().splitlines()[-1] == (
            f"evaluating takes ≈{share:.0%} of the time: eval every {sizing.interval_for_share(val, 40)} makes it 10%"
        )


async def test_keys_typed_after_tabs_in_one_burst_go_where_the_tabs_lead(home, corpus_file):
    """Found using the app in tmux: 23 Tabs, ctrl+u and '0.2' sent at once put '0.2' in LR patience
    (or another box the Tabs passed) while max minutes, where the focus ended, was cleared."""
    from textual import events

    from charlm_tui.tui.screens.configure import FIELDS

    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_configure(pilot, app)
        await wait_for(pilot, lambda: "in 5 minutes" in str(screen.query_one("#fit-reason").render()), "the fit")
        tabs = 6 + list(FIELDS).index("max_minutes")  # the six drop-downs, then the form's boxes
        burst = [events.Key("tab", None) for _ in range(tabs)] + [events.Key("ctrl+u", None)]
        burst += [events.Key(c if c != "." else "full_stop", c) for c in "0.05"] + [events.Key("ctrl+s", None)]
        for key in burst:  # posted without waiting in between: as a terminal delivers a burst
            app.post_message(key)
        await wait_for(pilot, lambda: screen.query_one("#max_minutes", Input).value == "0.05", "0.05 in max minutes")
        assert screen.query_one("#lr_patience", Input).value == "off" and app.focused.id == "max_minutes"
        # ctrl+s in the same burst starts the run with the budget typed before it, fitted to it
        await wait_for(pilot, lambda: app.training.live.state in ("finished", "stopped", "failed"), "the run to end")
        await pilot.pause()  # the rest of the burst handled before the app closes
    [info] = list_runs(home)
    config = open_run(home, info.id).config
    assert config["train"]["max_seconds"] == 3.0 and config["sizing"]["budget_s"] == 3.0


async def test_weight_decay_comes_with_a_preset_is_checked_inline_and_reaches_the_run(home, corpus_file):
    from textual.widgets import Select

    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_configure(pilot, app)
        box = screen.query_one("#weight_decay", Input)
        assert box.value == "0.1"  # the default preset: AdamW's decoupled decay
        screen.query_one("#preset", Select).value = "quick"
        await pilot.pause()
        assert box.value == "0"  # plain Adam
        box.value = "2"
        await pilot.pause()
        assert "weight decay must be between 0 and 1, got 2" in str(screen.query_one("#config-error").render())
        screen = await configure_tiny(pilot, app, max_epochs="1", weight_decay="0.05")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.current_mode == "train")
        await wait_for(pilot, lambda: app.training.live.state == "finished")
    assert open_run(home, list_runs(home)[0].id).config["train"]["weight_decay"] == 0.05


async def test_rename_dialog_says_what_is_wrong_and_stays_open(home, corpus_file):
    from charlm_tui.tui.screens.dialogs import AskScreen

    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        await train_tiny(pilot, app)
        [info] = list_runs(home)
        await pilot.press("5")
        await wait_for(pilot, lambda: app.current_mode == "runs")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        inp = app.screen.query_one("#ask-input", Input)
        assert inp.value == info.id
        inp.value = "no spaces/or slashes"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AskScreen)  # still open, with the reason, to be fixed in place
        assert "invalid run name" in str(app.screen.query_one("#ask-problem").render())
        inp.value = "my-first-model"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, AskScreen))
        assert [i.id for i in list_runs(home)] == ["my-first-model"]


async def test_mark_runs_to_compare_their_curves_side_by_side(home, corpus_file):
    from tests.core.test_compare import make_run

    make_run(home, "run-a", 128, 0.003, [(100, 60, 2.0), (200, 120, 1.7)])
    make_run(home, "run-b", 256, 0.003, [(100, 90, 1.9), (200, 180, 1.5)])
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.corpora.corpus is not None)
        await pilot.press("5")
        await wait_for(pilot, lambda: app.current_mode == "runs")
        screen = app.screen
        table = screen.query_one(DataTable)
        detail = lambda: str(screen.query_one("#runs-detail").render())  # noqa: E731
        chart = screen.query_one("#runs-chart")
        await pilot.press("space")
        await pilot.pause()
        first = screen.selected_id()
        assert str(table.get_cell(first, "mark")) == "*" and "marked runs" not in detail()  # one run: its own curves
        await pilot.press("down", "space")
        await pilot.pause()
        assert screen._marked == [first, screen.selected_id()]
        text = detail()
        assert "2 marked runs, best first" in text
        # two lines a run: its id, then the settings that differ first (a cut line loses the verdict)
        a, a2, b, b2 = text.splitlines()[1:5]
        assert a == "A • run-b" and a2.startswith("    hidden 256  ppl 4.482 = 2.164 bpc at 3.0 min  205 steps")
        assert b == "B x run-a" and b2.startswith("    hidden 128  ppl 5.474 = 2.453 bpc at 2.0 min  205 steps")
        assert chart._xlabel == "training minutes" and list(chart._series) == ["A", "B"]
        assert chart._series["A"] == ([1.5, 3.0], [1.9, 1.5])
        await pilot.press("space")  # unmark: back to the selected run's own curves
        await pilot.pause()
        assert "marked runs" not in detail() and chart._xlabel == "step"


async def test_ctrl_s_saves_the_generated_text_into_the_run(home, corpus_file):
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        await train_tiny(pilot, app)
        await pilot.press("4")
        await wait_for(pilot, lambda: app.current_mode == "generate")
        await pilot.press("ctrl+s")  # nothing generated yet: says so, writes nothing
        assert any("Nothing to save yet" in n.message for n in app._notifications)
        [info] = list_runs(home)
        assert not (open_run(home, info.id).path / "samples").exists()
        app.generation.settings.length, app.generation.settings.pace = 50, 0
        app.screen.query_one("#gen-prompt", Input).value = "the "
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: not app.generation.streaming and len(app.screen.query_one("#gen-transcript").text) > 50
        )
        shown = app.screen.query_one("#gen-transcript").text.plain
        await pilot.press("ctrl+s")
        [saved] = (open_run(home, info.id).path / "samples").iterdir()
        assert saved.read_text(encoding="utf-8") == shown and shown.startswith("» the ")
        assert any(str(saved) in n.message for n in app._notifications)


async def test_digits_on_arrival_at_configure_switch_screens_instead_of_editing_a_field(home, corpus_file):
    """2 then 3 opened Configure with the embedding field focused and selected: 3 replaced 64."""
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.corpora.corpus is not None, "the corpus to load")
        await pilot.press("2")
        await wait_for(pilot, lambda: app.current_mode == "configure", "the Configure screen")
        await pilot.pause()
        embed = app.screen.query_one("#embed_dim", Input).value
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "train", "the digit 3 to open Train")
        await pilot.press("2")
        await wait_for(pilot, lambda: app.current_mode == "configure", "the Configure screen again")
        assert app.screen.query_one("#embed_dim", Input).value == embed


async def test_train_says_what_it_does_while_starting_and_generate_opens_on_the_run_trained(home, corpus_file):
    from charlm_tui.core.training.jobs import new_job
    from charlm_tui.core.training.trainer import TrainConfig

    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.corpora.corpus is not None, "the corpus to load")
        saved = app.training.config
        app.training.config = TrainConfig(precision="auto")
        assert "measuring this machine's speed in fp32 and bf16" in app.training._starting_title(None)
        app.training.config = saved
        await configure_tiny(pilot, app)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.current_mode == "train", "the Train screen")
        ours = None
        await wait_for(pilot, lambda: app.training.live.run_id is not None, "the run to start")
        ours = app.training.live.run_id
        assert "No training yet" not in shown(app.screen.query_one("#train-title"))
        await wait_for(pilot, lambda: app.training.live.state in ("finished", "stopped"), "the run to end")
        # another process makes a newer run meanwhile (train --detach): Generate stays on ours
        other = new_job(
            home,
            str(corpus_file),
            {"cell": "gru", "embed_dim": 4, "hidden_size": 8, "num_layers": 1},
            TrainConfig(batch_size=4, num_steps=8, max_steps=2),
        )
        other.start()
        await pilot.press("4")
        await wait_for(pilot, lambda: app.current_mode == "generate", "the Generate screen")
        await pilot.pause()
        sel = app.screen.query_one("#gen-run")
        assert sel.value == ours
        assert all(value != sel.BLANK for _p, value in sel._options)  # no 'no runs yet' beside real runs


async def test_a_preset_sets_every_training_setting_and_every_bad_field_is_named(home, corpus_file):
    """patience 1 typed under quick stayed after switching to default; only the first invalid
    field's error showed."""
    from textual.widgets import Select

    from charlm_tui.core.config import PRESETS, TrainConfig

    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.corpora.corpus is not None, "the corpus to load")
        screen = await configure_tiny(pilot, app)
        screen.query_one("#preset", Select).value = "quick"
        await pilot.pause()
        screen.query_one("#patience", Input).value = "1"
        screen.query_one("#seed", Input).value = "42"
        screen.query_one("#preset", Select).value = "default"
        await pilot.pause()
        assert screen.query_one("#patience", Input).value == str(TrainConfig().patience)
        assert screen.query_one("#eval_every", Input).value == str(PRESETS["default"][1]["eval_every"])
        assert screen.query_one("#seed", Input).value == "42"  # the user's, not the recipe's
        screen.query_one("#batch_size", Input).value = "x"
        screen.query_one("#lr", Input).value = "fast"
        await pilot.pause()
        err = shown(screen.query_one("#config-error"))
        assert "batch" in err and "'x'" in err and "'fast'" in err
        assert screen.query_one("#batch_size").has_class("-invalid") and screen.query_one("#lr").has_class("-invalid")


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_the_runs_table_and_footer_fit_the_width(home, corpus_file, size):
    """At 80x24 the updated column read 'upda' and the footer '? He'; at 100x30 the corpus
    column 'python-d'."""
    from tests.tui.test_remote_use import finished_run

    run = finished_run(home, corpus_file)
    app = make_app(home, corpus_spec=str(corpus_file))
    async with app.run_test(size=size) as pilot:
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.current_mode == "runs", "the Runs screen")
        await pilot.pause(0.3)
        t = app.screen.query_one(DataTable)
        labels = [str(c.label) for c in t.columns.values()]
        assert sum(c.get_render_width(t) for c in t.columns.values()) <= size[0]  # nothing cut at the edge
        assert "updated" in labels and ("corpus" in labels) == (size[0] >= 100)
        detail = shown(app.screen.query_one("#runs-detail"))
        assert f"corpus {open_run(home, run.id).config['corpus']['name']}" in detail and "steps" in detail
        help_key = next(k for k in app.screen.query("FooterKey") if k.key == "question_mark")
        assert help_key.region.right <= size[0]  # the Footer's help key is drawn whole


async def test_the_tensorboard_checkbox_reaches_the_run(home, corpus_file):
    from textual.widgets import Checkbox

    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.corpora.corpus is not None, "the corpus to load")
        screen = await configure_tiny(pilot, app)
        screen.query_one("#tensorboard", Checkbox).value = True
        await pilot.pause()
        assert str(screen.query_one("#tensorboard", Checkbox).label).endswith(": on")  # in words: NO_COLOR
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.training.live.state in ("finished", "stopped"), "the run to end")
        [info] = list_runs(home)
        run = open_run(home, info.id)
        assert run.config["train"]["tensorboard"] is True and any((run.path / "tensorboard").iterdir())


async def test_fit_to_budget_is_the_default_and_refits_for_a_new_budget_until_the_user_takes_over(home):
    """The Configure screen opens on fit to budget with its reason; a longer budget gives a larger
    model (speeds assumed here: CHARLM_TUI_SPEEDS); a setting typed by hand is then kept; the run
    records the choice."""
    app = make_app(home, corpus_spec="python-docs")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.corpora.corpus is not None, "the corpus to load")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "configure", "the Configure screen")
        screen = app.screen
        reason = screen.query_one("#fit-reason")
        # the whole line drawn: on a busy machine the first check could come between the text's
        # update and the layout that gives the widget its second line
        await wait_for(
            pilot,
            lambda: "fit to budget: 2 x 256 LSTM" in shown(reason) and "in 5 minutes" in shown(reason),
            "the five-minute choice, drawn whole",
        )
        assert screen.query_one("#hidden_size", Input).value == "256"
        screen.query_one("#max_minutes", Input).value = "120"
        await wait_for(pilot, lambda: "in 2 hours" in shown(reason), "the two-hour choice")
        # the same width (a 418k-char corpus caps it), regularised for its hundreds of epochs
        assert (
            screen.query_one("#hidden_size", Input).value == "256"
            and screen.query_one("#dropout", Input).value == "0.5"
        )
        assert screen.query_one("#max_minutes", Input).value == "120"
        # a regulariser typed over the choice keeps the record, which says it was given
        mk, cfg = screen.read_values()
        assert app.training.sizing_for(mk, cfg)[0].get("given") is None
        assert app.training.sizing_for({**mk, "dropout": 0.3}, cfg)[0]["given"] == "given instead: dropout 0.3"
        assert app.training.sizing_for({**mk, "weight_drop": 0.2}, cfg)[0]["given"] == "given instead: weight drop 0.2"
        screen.query_one("#hidden_size", Input).value = "48"
        await pilot.pause()
        screen.query_one("#max_minutes", Input).value = "30"
        await wait_for(pilot, lambda: "typed by hand are kept" in shown(reason), "the hand-typed note")
        assert screen.query_one("#hidden_size", Input).value == "48"
        app.training.model_kw, app.training.config = screen.read_values()
        assert app.training.sizing_for(app.training.model_kw, app.training.config) == (None, None)


def hold_fits_of(budget_s: float, monkeypatch):
    """Fits for ``budget_s`` wait in their worker until the returned event is set (at most 30 s)."""
    import threading

    from charlm_tui.core.training import fit as fit_module

    release = threading.Event()
    real = fit_module.fit_to_budget

    def held(budget, *a, **kw):
        if budget == budget_s:
            assert release.wait(30), "the test never released the fit"
        return real(budget, *a, **kw)

    monkeypatch.setattr(fit_module, "fit_to_budget", held)
    return release


async def test_start_pressed_while_the_fit_is_measured_waits_for_the_fitted_model(home, corpus_file, monkeypatch):
    """Found using the app: max minutes 0.5, then ctrl+s while the new fit was being measured,
    started a 30-second run with the five-minute model and its eval interval (400 steps: never
    evaluated before the end) and no sizing record."""
    release = hold_fits_of(3.0, monkeypatch)
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_configure(pilot, app)
        reason = screen.query_one("#fit-reason")
        await wait_for(pilot, lambda: "in 5 minutes" in str(reason.render()), "the five-minute choice")
        five_minutes = screen.query_one("#eval_every", Input).value
        screen.query_one("#max_minutes", Input).value = "0.05"
        await wait_for(pilot, lambda: app.training.fit_under_way, "the 3-second fit to start")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.current_mode == "configure" and list_runs(home) == []
        assert any("starts as soon as the model is fitted" in n.message for n in app._notifications)
        release.set()
        await wait_for(pilot, lambda: app.current_mode == "train", "the run to start once fitted")
        await wait_for(pilot, lambda: app.training.live.state in ("finished", "stopped", "failed"), "the run to end")
    [info] = list_runs(home)
    config = open_run(home, info.id).config
    assert config["sizing"]["budget_s"] == 3.0 and config["train"]["max_seconds"] == 3.0
    assert str(config["train"]["eval_every"]) != five_minutes
    assert info.status == "finished"  # the tiny corpus (1,728 training chars) got a batch it holds


async def test_leaving_configure_before_the_fit_is_in_calls_the_start_off(home, corpus_file, monkeypatch):
    """A start waiting for the fit, then the Corpus screen (where another corpus may be picked):
    the fit that comes in later must not start a run on its own."""
    release = hold_fits_of(3.0, monkeypatch)
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_configure(pilot, app)
        await wait_for(pilot, lambda: "in 5 minutes" in str(screen.query_one("#fit-reason").render()), "the first fit")
        screen.query_one("#max_minutes", Input).value = "0.05"
        await wait_for(pilot, lambda: app.training.fit_under_way, "the 3-second fit to start")
        await pilot.press("ctrl+s")
        await pilot.press("f2")  # to the Corpus screen, from inside a text box
        await wait_for(pilot, lambda: app.current_mode == "corpus", "the Corpus screen")
        assert any("Configure was left before the model was fitted" in n.message for n in app._notifications)
        release.set()
        await wait_for(pilot, lambda: not app.training.fit_under_way, "the fit to come in")
        await pilot.pause(0.2)
        assert app.current_mode == "corpus" and list_runs(home) == [] and not app.training.training


async def test_inspect_scores_once_on_opening_and_a_text_left_while_scoring_never_replaces_the_next(
    home, tiny_file, monkeypatch
):
    """The screen scored its text twice on opening (the source Select's first value came as a
    change), and the first scoring's text, arriving late, blanked the colours of the second (a
    snapshot of CI's slower machine showed the text uncoloured). Here the first scoring is held
    until the user's next text is scored; its late text must not replace that one."""
    import threading

    from charlm_tui.cli.main import main
    from charlm_tui.core.analysis import session
    from charlm_tui.tui.screens.inspect import InspectScreen
    from charlm_tui.tui.widgets.inspect_text import InspectText
    from tests.conftest import TINY_CLI

    assert main(["train", str(tiny_file), *TINY_CLI, "--max-steps", "10", "--quiet", "--run-id", "tiny-run"]) == 0
    real, calls, done, release = session.inspect_run, [], [], threading.Event()

    def held_first(home, run_id, text=None, *a, **kw):
        calls.append(text)
        if len(calls) == 1:
            assert release.wait(60), "the test never released the first scoring"
        try:
            return real(home, run_id, text, *a, **kw)
        finally:
            done.append(text)

    monkeypatch.setattr(session, "inspect_run", held_first)
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(80, 24)) as pilot:
        try:
            await app.push_screen(InspectScreen("tiny-run"))
            screen = app.screen
            await wait_for(pilot, lambda: len(calls) >= 1, "the validation text's scoring to start")
            for _ in range(5):
                await pilot.pause()
            assert calls == [None], "opened once, scored once"
            screen.query_one("#ins-input", Input).value = "ab ba ab"
            screen.source = "paste"
            screen.start()
            await wait_for(pilot, lambda: screen.inspection is not None, "the pasted text to be scored")
            release.set()
            await wait_for(pilot, lambda: len(done) == 2, "the held scoring to end")
            for _ in range(5):
                await pilot.pause()
            view = screen.query_one(InspectText)
            assert view.text == screen.inspection.scored.text == "ab ba ab"
            assert view.values is screen.inspection.scored.bits and "the pasted text" in shown(
                screen.query_one("#ins-headline")
            )
        finally:
            release.set()  # a failed check must not leave the held scoring to time out


async def test_inspect_a_run_without_colour_move_the_cursor_switch_views_and_read_a_file(home, tiny_file, monkeypatch):
    """NO_COLOR crashed the text view (a padding segment without a style under Textual's
    monochrome filter); the cursor shows the predictions; a unit's view; a missing file is said."""
    from charlm_tui.cli.main import main
    from charlm_tui.tui.screens.inspect import InspectScreen
    from tests.conftest import TINY_CLI

    assert main(["train", str(tiny_file), *TINY_CLI, "--max-steps", "10", "--quiet", "--run-id", "tiny-run"]) == 0
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(InspectScreen("tiny-run"))
        screen = app.screen
        await wait_for(pilot, lambda: screen.inspection is not None, "the validation text to be scored")
        assert "bits/char" in shown(screen.query_one("#ins-headline"))
        await pilot.press("right", "right", "down")
        info = shown(screen.query_one("#ins-info"))
        assert "paid" in info and "it expected" in info and "%" in info
        await pilot.press("v")
        await pilot.pause()
        assert "unit 0:0, its cell state" in shown(screen.query_one("#ins-legend"))
        assert "unit 0:0 =" in shown(screen.query_one("#ins-info"))
        screen.query_one("#ins-input", Input).value = str(tiny_file.parent / "missing.txt")
        screen.source = "file"
        screen.start()
        await pilot.pause()
        assert "cannot read it" in shown(screen.query_one("#ins-headline"))
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, InspectScreen)


def test_the_help_lines_under_the_form_fit_an_80_column_terminal():
    from charlm_tui.tui.screens.configure import LR_HELP, PARTITION_HELP, lr_help

    lines = list(PARTITION_HELP.values()) + [
        lr_help(s, p, f) for s in LR_HELP for p in (None, 1, 1_000_000) for f in (None, 0.5, 0.125)
    ]
    assert max(len(line) for line in lines) <= 78  # one column of padding either side
