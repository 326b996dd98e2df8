import math

import pytest
from rich.console import Console

from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.screens.help import KEY_SEP, keys_help
from charlm_tui.tui.widgets.flow import Flow


def render(renderable, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    with console.capture() as cap:
        console.print(renderable)
    return cap.get().rstrip("\n").split("\n")


def test_help_key_items_wrap_between_items_never_inside_one():
    items = dict(keys_help(CharLMApp))["Generate"]
    for width in (30, 45, 60, 120):
        lines = render(Flow(items, KEY_SEP), width)
        assert all(len(line) <= width for line in lines)
        # every line is whole items joined by the separator, and together they are all the items in order
        assert [item for line in lines for item in line.split(KEY_SEP)] == items
    assert render(Flow(items, KEY_SEP), 1000) == [KEY_SEP.join(items)]


def test_an_item_longer_than_the_width_gets_a_line_of_its_own():
    assert render(Flow(["a", "b" * 12, "c"], KEY_SEP), 8)[:1] == ["a"]


def test_corpus_rows_keep_a_paths_end_and_a_names_start():
    from charlm_tui.tui.screens.corpus import row_name

    assert row_name("python-docs") == "python-docs"
    assert row_name("my-long-corpus-name-2026.txt") == "my-long-corpus-n…"
    assert row_name("/home/me/data/novels/war-and-peace.txt") == "…ar-and-peace.txt"
    assert row_name("https://example.org/texts/sonnets.txt") == "…exts/sonnets.txt"
    assert all(len(row_name(n)) <= 17 for n in ("x" * 40, "/a/" + "y" * 40))


def test_run_picker_says_no_eval_yet_instead_of_a_zero_perplexity():
    from types import SimpleNamespace

    from charlm_tui.tui.screens.generate import run_label

    run = SimpleNamespace(id="docs-1", cell="lstm", size="2x256", best_val_ppl=None)
    assert run_label(run) == "docs-1  lstm 2x256  no eval yet"
    run.best_val_ppl = 3.14159
    assert run_label(run) == "docs-1  lstm 2x256  ppl 3.14"


def test_the_help_lists_every_key_a_screen_binds_with_a_tooltip():
    """The help is built from the bindings: nothing is copied by hand, so nothing goes stale."""
    from charlm_tui.tui.screens.generate import GenerateScreen
    from charlm_tui.tui.screens.help import screens_help

    items = dict(keys_help(CharLMApp))
    assert items["Generate"][:3] == [
        "esc stop stream, or leave box",
        "pageup/pagedown setting +/-",
        "ctrl+n/F8/F7 next/prev setting",
    ]
    assert items["Generate"][-2:] == ["enter send prompt", "up/down in the prompt: history"]
    assert items["Configure"] == [
        "ctrl+s start training",
        "ctrl+r next preset",
        "ctrl+t fine-tuning: a new run instead",
    ]
    assert items["Train"] == ["space pause/resume", "s stop (saves)", "n sample now from the best weights"]
    tips = {b.tooltip for b in GenerateScreen.BINDINGS if b.tooltip}
    assert len(items["Generate"]) == len(tips) + 2  # each tooltip once, plus the prompt's two
    rows = screens_help(CharLMApp)
    assert rows[0] == ("1 / F2", "Corpus", "pick a built-in corpus, one of yours, or add a file / folder glob / URL")
    assert [r[0] for r in rows[5:]] == ["? / F1", "q / ctrl+q"]


async def test_reference_lines_are_labelled_on_the_chart_and_far_ones_left_out():
    from textual.app import App

    from charlm_tui.core.data.references import References
    from charlm_tui.tui.widgets.metrics_chart import MetricsChart, reference_lines
    from tests.tui.test_app import shown

    class ChartApp(App):
        def compose(self):
            yield MetricsChart("loss", "nats/char", id="c")

    refs = References(uniform=6.7, unigram=4.6, ngram=1.8, xz=1.4, ngram_order=5, val_chars=100)
    lines = reference_lines(refs)
    assert lines[2] == ("5-gram 1.80 bpc", pytest.approx(1.8 * math.log(2)))
    app = ChartApp()
    async with app.run_test(size=(80, 20)) as pilot:
        chart = app.query_one(MetricsChart)
        chart.set_references(lines)
        chart.set_series({"val": ([1, 2, 3, 4], [3.0, 2.0, 1.5, 1.3])})
        await pilot.pause()
        text = shown(chart)
        # within reach of the data (1.3 to 3.0 nats): unigram 3.19 is above the highest point: out
        assert "5-gram 1.80 bpc" in text and "xz 1.40 bpc" in text
        assert "unigram" not in text and "uniform" not in text
        assert "·····" in text  # the line itself: dots, readable without colour


async def test_the_prompt_box_coalesces_typed_keys_and_its_cost_per_key_does_not_grow(monkeypatch):
    """100k characters pasted without bracketed paste (one key event each) kept the app busy for
    80+ s: Textual's Input measured the whole value on every key. Keys are coalesced into one insert
    and the widths are extended by what was added: no measurement of the long value per key."""
    from textual import events
    from textual.app import App

    from charlm_tui.tui.widgets import history_input
    from charlm_tui.tui.widgets.history_input import HistoryInput
    from tests.tui.test_app import wait_for

    class One(App):
        def compose(self):
            yield HistoryInput(id="p")

    measured: list[int] = []
    real = history_input.cell_len
    monkeypatch.setattr(history_input, "cell_len", lambda text: measured.append(len(text)) or real(text))
    app = One()
    async with app.run_test(size=(80, 10)) as pilot:
        inp = app.query_one(HistoryInput)
        inp.focus()
        inp.value = "x" * 50_000
        inp.cursor_position = 50_000
        await pilot.pause()
        measured.clear()
        for c in "hello world" * 100:  # a burst, as a terminal sends a paste without bracketed paste
            app.post_message(events.Key(c, c))
        want = "x" * 50_000 + "hello world" * 100
        await wait_for(pilot, lambda: inp.value == want, "the 1,100 posted keys to be typed, in order")
        assert measured and max(measured) <= 1100  # only what was added is measured, never the 50k before it
        # a key that acts on the value (backspace) sees every character typed before it
        await pilot.press("z", "y", "backspace")
        assert inp.value == want + "z"


def test_reference_lines_less_than_a_row_apart_share_one_labelled_line():
    from charlm_tui.tui.widgets.metrics_chart import merge_close

    lines = [("5-gram 1.45 bpc", 1.005), ("xz 1.41 bpc", 0.977), ("unigram 4.50 bpc", 3.12)]
    # 2.2 nats over 10 rows: 0.24 a row; 5-gram and xz are 0.03 apart
    assert merge_close(lines, 0.9, 3.12, 10) == [
        ("unigram 4.50 bpc", 3.12),
        ("5-gram 1.45, xz 1.41 bpc", pytest.approx((1.005 + 0.977) / 2)),
    ]
    assert len(merge_close(lines, 0.9, 3.12, 200)) == 3  # a tall chart has a row for each


@pytest.mark.parametrize("size", [(80, 12), (80, 20), (100, 14)])
async def test_close_reference_labels_do_not_overwrite_each_other_on_the_chart(size):
    """At 80 columns the xz label overwrote the 5-gram line: 'xz 1.41 bpc bpc', the 5-gram gone."""
    from textual.app import App

    from charlm_tui.tui.widgets.metrics_chart import MetricsChart
    from tests.tui.test_app import shown

    class ChartApp(App):
        def compose(self):
            yield MetricsChart("loss", "nats/char", id="c")

    app = ChartApp()
    async with app.run_test(size=size) as pilot:
        chart = app.query_one(MetricsChart)
        chart.set_references([("5-gram 1.45 bpc", 1.45 * math.log(2)), ("xz 1.41 bpc", 1.41 * math.log(2))])
        chart.set_series({"val": ([1, 2, 3, 4], [3.0, 2.0, 1.2, 0.95])})
        await pilot.pause()
        text = shown(chart)
        assert "5-gram 1.45" in text and "xz 1.41 bpc" in text and "bpc bpc" not in text


@pytest.mark.parametrize("cls", ["SteadyInput", "LongInput"])
async def test_editing_keys_in_a_burst_act_in_turn_with_the_characters(cls):
    """Found using the app over tmux: ctrl+u then '128' sent at once left the box empty, and 'abc',
    backspace, 'x' left 'abc': Textual ran the box's editing keys only once they had bubbled up to
    the app, after the characters behind them had gone in."""
    from textual import events
    from textual.app import App

    from charlm_tui.tui.widgets import history_input

    class One(App):
        def compose(self):
            yield getattr(history_input, cls)(id="box")

    app = One()
    async with app.run_test() as pilot:
        box = app.query_one("#box")
        box.focus()
        await pilot.pause()
        keys = [("a", "a"), ("b", "b"), ("c", "c"), ("backspace", None), ("x", "x")]
        keys += [("ctrl+u", None), ("1", "1"), ("2", "2"), ("8", "8"), ("left", None), ("0", "0")]
        for key, char in keys:  # posted without waiting in between: as a terminal delivers a burst
            app.post_message(events.Key(key, char))
        await pilot.pause()
        if cls == "LongInput":
            box.flush_typed()
        assert box.value == "1208"
