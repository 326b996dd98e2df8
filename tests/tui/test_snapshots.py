"""Snapshots of every screen at 100x30 and 80x24, on deterministic content."""

import json

import pytest

from charlm_tui.core.config import TrainEvent
from charlm_tui.core.data.vocab import Vocab
from charlm_tui.tui.app import make_app

SIZES = [(100, 30), (80, 24)]
# each test its own data dir; the header, which shows it, shows this instead
SHOWN_HOME = "/tmp/charlm-tui-snapshot-home"
RUN_ID = "python-docs-demo"


@pytest.fixture
def snap_home(monkeypatch, tmp_path):
    SNAP_HOME = tmp_path / "snapshot-home"
    run = SNAP_HOME / "runs" / RUN_ID
    run.mkdir(parents=True)
    (run / "vocab.json").write_text(json.dumps(Vocab("abc \n").to_json()))
    (run / "config.json").write_text(
        json.dumps(
            {
                "created": "2026-01-02T03:04:05+0000",
                "format_version": 1,
                "model": {
                    "vocab_size": 6,
                    "cell": "lstm",
                    "embed_dim": 8,
                    "hidden_size": 16,
                    "num_layers": 2,
                    "dropout": 0.0,
                },
                "train": {"batch_size": 4, "num_steps": 10},
                "corpus": {"name": "python-docs", "spec": "python-docs"},
            }
        )
    )
    (run / "status.json").write_text(
        json.dumps(
            {
                "status": "finished",
                "reason": "early_stop",
                "steps": 1200,
                "best_val_ppl": 3.512,
                "best_val_bpc": 1.812,
                "updated": "2026-01-02T03:14:05+0000",
                "created": "2026-01-02T03:04:05+0000",
            }
        )
    )
    with open(run / "metrics.jsonl", "w") as f:
        for i in range(1, 13):
            f.write(json.dumps({"step": 100 * i, "train_loss": 3.0 / i**0.5, "val_nll": 2.9 / i**0.45}) + "\n")
    # a user corpus with a long name and a size: its catalog row must stay on one line
    (SNAP_HOME / "corpora").mkdir()
    (SNAP_HOME / "corpora" / "my-long-corpus-name-2026.txt").write_text("to be or not to be\n" * 600)
    monkeypatch.setenv("CHARLM_TUI_HOME", str(SNAP_HOME))
    return SNAP_HOME


async def _corpus_ready(pilot):
    app = pilot.app
    app.sub_title = SHOWN_HOME
    for _ in range(1200):  # the corpus, then its reference figures (computed in a worker)
        if app.corpora.corpus is not None and not app.corpora.references_pending(app.corpora.corpus):
            break
        await pilot.pause(0.05)
    else:  # a snapshot now would be a diff that hides why: say what did not come
        raise AssertionError("waited 60 s for the corpus and its reference figures to load, in vain")
    await _steady(pilot)


async def _steady(pilot):
    """No blinking cursor: a snapshot taken mid-blink would differ run to run."""
    from textual.widgets import Input

    await pilot.pause()
    for inp in pilot.app.screen.query(Input):
        inp.cursor_blink = False
    await pilot.pause()


def events():
    out = [TrainEvent("start", 0, 0.0, 2000, message="training 889,448 parameters, 205 steps per epoch on cpu")]
    for i in range(1, 9):
        step = 100 * i
        out.append(
            TrainEvent(
                "progress",
                step,
                step / 205,
                2000,
                train_loss=3.2 / i**0.5,
                lr=3e-3,
                chars_per_s=31000.0,
                elapsed=6.6 * i,
                eta=6.6 * (20 - i),
                best_val_nll=1.3,
                best_val_ppl=3.67,
                best_val_bpc=1.876,
                patience_left=5,
                time_budget=300.0,
                budget=6.6 * i / 300,
            )
        )  # a 5-minute run: time is the limit that binds
        if i % 2 == 0:
            out.append(
                TrainEvent(
                    "eval",
                    step,
                    step / 205,
                    2000,
                    train_loss=3.2 / i**0.5,
                    val_nll=2.6 / i**0.4,
                    val_ppl=2.718 ** (2.6 / i**0.4),
                    val_bpc=3.75 / i**0.4,
                    lr=3e-3,
                    elapsed=6.6 * i,
                    best_val_nll=1.3,
                    best_val_ppl=3.67,
                    best_val_bpc=1.876,
                    patience_left=5,
                    time_budget=300.0,
                    budget=6.6 * i / 300,
                )
            )
    out.append(
        TrainEvent(
            "lr_reduced",
            800,
            3.9,
            2000,
            lr=1.5e-3,
            elapsed=53.0,
            time_budget=300.0,
            budget=53 / 300,
            message="val ppl plateaued: LR cut 0.003 -> 0.0015",
        )
    )
    return out


@pytest.mark.parametrize("size", SIZES)
def test_corpus_screen(snap_compare, snap_home, size):
    assert snap_compare(make_app(snap_home), terminal_size=size, run_before=_corpus_ready)


@pytest.mark.parametrize("size", SIZES)
def test_configure_screen(snap_compare, snap_home, size):
    async def go(pilot):
        await _corpus_ready(pilot)
        await pilot.press("2")
        for _ in range(600):  # fit to budget (the default preset) has sized the model: its reason shows
            if pilot.app.training.fitted is not None:
                break
            await pilot.pause(0.05)
        else:
            raise AssertionError("waited 30 s for fit to budget's choice")
        await _steady(pilot)

    assert snap_compare(make_app(snap_home), terminal_size=size, run_before=go)


@pytest.mark.parametrize("size", SIZES)
def test_train_screen(snap_compare, snap_home, size):
    async def go(pilot):
        app = pilot.app
        await _corpus_ready(pilot)
        app.training.live.state = "running"
        app.training.live.run_id = RUN_ID
        app.training.live.title = f"{RUN_ID}   python-docs   lstm 2x256   889,448 params"
        await pilot.press("3")
        for ev in events():
            app.on_train_update(type("M", (), {"event": ev})())
        app.training.live.sample = "The value of the argument is the same as the"
        app.get_screen("train").redraw()
        await pilot.pause()

    assert snap_compare(make_app(snap_home), terminal_size=size, run_before=go)


@pytest.mark.parametrize("size", SIZES)
def test_generate_screen(snap_compare, snap_home, size):
    async def go(pilot):
        await _corpus_ready(pilot)
        await pilot.press("4")
        await _steady(pilot)
        tr = pilot.app.screen.query_one("#gen-transcript")
        tr.add_prompt("The Ωclass ", {"Ω"})
        tr.add_generated([(c, 0.9 if i % 3 else 0.1) for i, c in enumerate("statement is a new object of the type")])
        await pilot.pause()

    assert snap_compare(make_app(snap_home), terminal_size=size, run_before=go)


@pytest.mark.parametrize("size", SIZES)
def test_runs_screen(snap_compare, snap_home, size):
    async def go(pilot):
        await _corpus_ready(pilot)
        await pilot.press("5")
        await pilot.pause(0.2)

    assert snap_compare(make_app(snap_home), terminal_size=size, run_before=go)


def test_help_screen(snap_compare, snap_home):
    async def go(pilot):
        await _corpus_ready(pilot)
        from charlm_tui.tui.screens.help import HelpScreen

        pilot.app.push_screen(HelpScreen(SHOWN_HOME))  # as "?" opens it, with the data dir it shows
        await pilot.pause()

    assert snap_compare(make_app(snap_home), terminal_size=(100, 30), run_before=go)


def test_help_screen_at_80x24_wraps_under_each_column(snap_compare, snap_home):
    async def go(pilot):
        await _corpus_ready(pilot)
        from charlm_tui.tui.screens.help import HelpScreen

        pilot.app.push_screen(HelpScreen(SHOWN_HOME))  # as "?" opens it, with the data dir it shows
        await pilot.pause()
        await pilot.press("pagedown")
        await pilot.pause()

    assert snap_compare(make_app(snap_home), terminal_size=(80, 24), run_before=go)


QUOTES = 'She said "hello (world)" and left.\n  He said "bye [now]".\n' * 60


@pytest.fixture
def inspected_run(snap_home, tmp_path):
    """A tiny model trained (seeded, fp32, one thread: the same weights every time) on a text with
    quotes and brackets, under a fixed run id."""
    from charlm_tui.cli.main import main

    corpus = tmp_path / "quotes.txt"
    corpus.write_text(QUOTES, encoding="utf-8")
    args = ["train", str(corpus), "--home", str(snap_home), "--run-id", "quotes-demo", "--quiet", "--seed", "5"]
    args += "--max-steps 40 --eval-every 20 --hidden-size 24 --embed-dim 8 --batch-size 4 --num-steps 32".split()
    assert main(args) == 0
    return "quotes-demo"


async def _inspecting(pilot, run_id: str):
    """The Inspect screen on ``run_id``, its validation text scored."""
    from charlm_tui.tui.screens.inspect import InspectScreen

    app = pilot.app
    app.sub_title = SHOWN_HOME
    await app.push_screen(InspectScreen(run_id))
    for _ in range(1200):
        if app.screen.inspection is not None:
            return app
        await pilot.pause(0.05)
    raise AssertionError("waited 60 s for the text to be scored")


@pytest.mark.parametrize("size", SIZES)
def test_inspect_screen(snap_compare, snap_home, inspected_run, size):
    """The surprisal view with the cursor on a character (its top predictions below) at 100x30 and
    80x24; then, in the second picture, the cell view of a unit found by discovery."""

    async def go(pilot):
        await _inspecting(pilot, inspected_run)
        await pilot.press("down", "right", "right", "right")
        await _steady(pilot)

    assert snap_compare(make_app(snap_home), terminal_size=size, run_before=go)


@pytest.mark.parametrize("size", SIZES)
def test_inspect_cell_view_after_discovery(snap_compare, snap_home, inspected_run, size):
    async def go(pilot):
        app = await _inspecting(pilot, inspected_run)
        await pilot.press("d")
        for _ in range(1200):
            if app.screen.discovery is not None:
                break
            await pilot.pause(0.05)
        else:
            raise AssertionError("waited 60 s for discovery")
        await pilot.pause()
        await pilot.press("enter")  # the best match opens in the cell view
        await _steady(pilot)

    assert snap_compare(make_app(snap_home), terminal_size=size, run_before=go)
