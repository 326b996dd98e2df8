"""The transcript redraws only what an append changed (what a slow SSH link pays for), and what it
draws is what a full redraw would draw."""

import random

import pytest
from rich.cells import get_character_cell_size
from textual.app import App
from textual.geometry import Region

from charlm_tui.tui.widgets.transcript import Transcript

HEIGHT = 20  # rows inside the border


class Host(App):
    CSS = f"Transcript {{ height: {HEIGHT + 2}; border: round white; }}"

    def compose(self):
        yield Transcript()


def visible(tr: Transcript) -> list[list[str]]:
    """The visible lines as cells (a wide character is its character and an empty cell)."""
    rows = []
    for y in range(tr.scrollable_content_region.height):
        row = []
        for ch in tr.render_line(y).text:
            row += [ch] if get_character_cell_size(ch) == 1 else [ch, ""]
        rows.append(row)
    return rows


def stream_text(seed: int, n: int) -> str:
    rnd = random.Random(seed)
    alphabet = "abcdefgh      ,.\n" + "é中"  # spaces to wrap at, newlines, a wide character
    return "".join(rnd.choice(alphabet) for _ in range(n))


class Spy:
    """Records the regions the transcript asks to redraw; () is everything."""

    def __init__(self, tr: Transcript):
        self.calls: list[tuple[Region, ...]] = []
        real = tr.refresh

        def refresh(*regions, **kw):
            self.calls.append(regions)
            return real(*regions, **kw)

        tr.refresh = refresh

    def take(self):
        calls, self.calls = self.calls, []
        return calls


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_every_changed_cell_is_redrawn_and_little_else(seed):
    app = Host()
    async with app.run_test(size=(60, 30)) as pilot:
        tr = app.query_one(Transcript)
        await pilot.pause()
        spy = Spy(tr)
        text = stream_text(seed, 1500)
        full_redraws = cells = 0
        before = visible(tr)
        for prompt_no in range(3):
            tr.add_prompt("The ", set())
            for i in range(0, 500, 16):  # batches as the app posts them at the default pace
                tr.add_generated([(c, 0.9) for c in text[prompt_no * 500 + i : prompt_no * 500 + i + 16]])
                await pilot.pause()
                after = visible(tr)
                calls = spy.take()
                if any(not regions for regions in calls):
                    full_redraws += 1
                else:
                    regions = [r for regions in calls for r in regions]
                    cells += sum(r.area for r in regions)
                    for y, (old, new) in enumerate(zip(before, after)):
                        for x in range(max(len(old), len(new))):
                            if old[x : x + 1] != new[x : x + 1]:
                                assert any(r.contains(x, y) for r in regions), (y, x, old, new)
                before = after
        lines = len(tr._lines)
        # a full redraw each time the text reaches the bottom, which then sits a third of the way down
        assert full_redraws <= lines // (HEIGHT - HEIGHT // 3) + 2
        assert cells <= 2 * 1500 + 60 * lines  # the new characters, and what a word wrap moves


async def test_incremental_wrapping_matches_a_fresh_layout_and_the_window_follows_the_end():
    app = Host()
    async with app.run_test(size=(50, 30)) as pilot:
        tr = app.query_one(Transcript)
        await pilot.pause()
        text = stream_text(7, 3000)
        for i in range(0, len(text), 37):
            tr.add_generated([(c, 0.5) for c in text[i : i + 37]])
        await pilot.pause()
        incremental = [[c for c, _ in line] for line in tr._lines]
        shown = visible(tr)
        tr._relayout()
        await pilot.pause()
        assert [[c for c, _ in line] for line in tr._lines] == incremental
        assert all(sum(2 if c == "中" else 1 for c in line) <= tr._wrap for line in incremental)
        # the last line is on screen, in the upper two-thirds after a jump
        last = len(tr._lines) - 1
        assert tr.scroll_y <= last < tr.scroll_y + HEIGHT
        assert shown == visible(tr)


async def test_a_reader_scrolled_up_is_left_in_place():
    app = Host()
    async with app.run_test(size=(50, 30)) as pilot:
        tr = app.query_one(Transcript)
        await pilot.pause()
        tr.add_generated([(c, 0.5) for c in stream_text(3, 2000)])
        await pilot.pause()
        tr.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        spy = Spy(tr)
        tr.add_generated([(c, 0.5) for c in "more text " * 20])
        await pilot.pause()
        assert tr.scroll_y == 0
        assert all(regions for regions in spy.take())  # no full redraw for text below the view


async def test_events_wrap_and_keep_following_whatever_arrives_at_once():
    from textual.app import App as _App

    from charlm_tui.tui.widgets.event_log import EventLog

    class LogHost(_App):
        CSS = "EventLog { width: 26; height: 8; }"

        def compose(self):
            yield EventLog(max_lines=50)

    app = LogHost()
    async with app.run_test(size=(40, 12)) as pilot:
        log = app.query_one(EventLog)
        await pilot.pause()
        log.write_lines(["step 1,200: val ppl 3.456 bpc 1.789; checkpoint saved"])
        await pilot.pause()
        shown = [log.render_line(y).text.rstrip() for y in range(3)]
        width = log.scrollable_content_region.width
        assert all(len(line) <= width for line in shown)
        assert " ".join(s.strip() for s in shown) == "step 1,200: val ppl 3.456 bpc 1.789; checkpoint saved"
        # a pause seen in the status file and in the metrics at once, then many more events
        for n in range(40):
            log.write_lines([f"status: paused {n}"])
            log.write_lines([f"paused; state saved {n}", f"resumed {n}"])
        await pilot.pause()
        last_row = log.render_line(log.scrollable_content_region.height - 1).text.strip()
        assert last_row == "resumed 39" and log.follow
        # a reader who scrolls up stays there; back at the end, it follows again
        log.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        log.write_lines(["step 9"])
        await pilot.pause()
        assert log.scroll_y == 0 and not log.follow
        log.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        log.write_lines(["step 10"])
        await pilot.pause()
        assert log.follow and log.render_line(log.scrollable_content_region.height - 1).text.strip() == "step 10"
        assert len(log.events) == 50  # at most max_lines
