"""The REPL transcript: prompts and generated text in one scrolling view, visually distinct.

Over a slow link what matters is how much is redrawn. The transcript is a line-API widget that
word-wraps as text arrives and redraws only the lines an append touched (usually the last one),
instead of re-rendering all of its text on every batch of characters. When the text reaches the
bottom of the view it jumps so the last line sits a third of the way down, leaving room below:
one full redraw per two-thirds of a screen of text instead of one per line. It keeps the last
MAX_CHARS characters at most (``text`` holds them, styled, for saving and for tests).
"""

from __future__ import annotations

from rich.cells import get_character_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from charlm_tui.formatting import printable

MAX_CHARS = 20_000
TRIM_SLACK = 4_000  # trimming re-wraps everything: cut this much more, so it happens once per 4k characters

TAB = 8  # tab stops, as a terminal has them
Cell = tuple[str, Style]


def confidence_style(prob: float) -> str:
    """Colour by the model's probability; low confidence is also underlined (visible without colour)."""
    if prob >= 0.6:
        return "green"
    if prob >= 0.25:
        return "yellow"
    return "red underline"


class Transcript(ScrollView, can_focus=True):
    # the gutter is kept even without a scrollbar: a scrollbar that appears would change the width,
    # and a new width re-wraps and redraws everything
    DEFAULT_CSS = "Transcript { overflow-x: hidden; scrollbar-gutter: stable; }"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.text = Text()
        self.confidence = False
        self._lines: list[list[Cell]] = [[]]
        self._cols = [0]  # cells used on each line
        self._wrap = 0  # the width the lines are wrapped to
        self._top_pad = 0  # virtual height kept below the text after a jump
        self._styles: dict[str, Style] = {}

    # ------------------------------------------------------------------ what the screen calls
    def add_prompt(self, shown_prompt: str, unknown: set[str]) -> None:
        if self.text:
            self._append("\n\n", "")
        self._append("» ", "bold")
        run: list[str] = []
        style = "bold underline"
        for ch in shown_prompt:
            want = "bold reverse" if ch in unknown else "bold underline"
            if want != style and run:
                self._append("".join(run), style)
                run = []
            style = want
            run.append("\ufffd" if ch in unknown else ch)
        if run:
            self._append("".join(run), style)

    def add_generated(self, chars: list[tuple[str, float]]) -> None:
        if self.confidence:
            for ch, p in chars:
                self._append(ch, confidence_style(p))
        else:
            self._append("".join(c for c, _ in chars), "italic")

    def add_note(self, note: str) -> None:
        self._append(f"  [{note}]", "dim")

    def clear(self) -> None:
        self.text = Text()
        self._relayout()

    # ------------------------------------------------------------------ layout
    def _style(self, name: str) -> Style:
        s = self._styles.get(name)
        if s is None:
            s = self._styles[name] = Style.parse(name) if name else Style()
        return s

    def _width(self) -> int:
        return max(8, self.scrollable_content_region.width)

    def _append(self, s: str, style: str) -> None:
        if not s:
            return
        self.text.append(s, style)
        if len(self.text) > MAX_CHARS:
            self.text = self.text[len(self.text) - (MAX_CHARS - TRIM_SLACK) :]
            self._relayout()
            return
        if self._wrap != self._width():
            self._relayout()
            return
        line0, end0 = len(self._lines) - 1, self._cols[-1]
        _, x_first = self._lay(s, self._style(style))  # always on line0: only the last line grows or is cut
        if self._changed(line0):
            return
        # only the cells that changed: on line0 from where it changed to where it ends (or ended),
        # then the new lines' text
        for i in range(line0, len(self._lines)):
            x0 = x_first if i == line0 else 0
            x1 = max(end0, self._cols[i]) if i == line0 else self._cols[i]
            if x1 > x0:
                self.refresh(Region(x0, i - int(self.scroll_y), x1 - x0, 1))

    def _lay(self, s: str, style: Style) -> tuple[int, int]:
        """Add ``s`` to the wrapped lines; return the first (line, cell) it changed."""
        lines, cols, width = self._lines, self._cols, self._wrap
        first = (len(lines) - 1, cols[-1])
        for raw in s:
            if raw == "\n":
                lines.append([])
                cols.append(0)
                continue
            # what would act on the terminal shows as a stand-in (ESC as U+241B); a tab as spaces to the next stop
            for ch in " " * (TAB - cols[-1] % TAB) if raw == "\t" else printable(raw):
                w = get_character_cell_size(ch)
                if cols[-1] + w > width:
                    line = lines[-1]
                    cut = next((i for i in range(len(line) - 1, 0, -1) if line[i][0] == " "), None)
                    if ch != " " and cut is not None and cut > len(line) // 3:  # wrap at the last space
                        tail = line[cut + 1 :]
                        del line[cut + 1 :]
                        cols[-1] = sum(get_character_cell_size(c) for c, _ in line)
                        first = min(first, (len(lines) - 1, cols[-1]))  # the word moves down
                        lines.append(tail)
                        cols.append(sum(get_character_cell_size(c) for c, _ in tail))
                    else:
                        lines.append([])
                        cols.append(0)
                    if ch == " " and not lines[-1]:
                        continue  # a space that wrapped is not drawn at the start of a line
                lines[-1].append((ch, style))
                cols[-1] += w
        return first

    def _relayout(self) -> None:
        self._wrap = self._width()
        self._lines, self._cols, self._top_pad = [[]], [0], 0
        plain = self.text.plain
        styles = [Style()] * len(plain)
        for span in self.text.spans:
            st = self._style(str(span.style)) if not isinstance(span.style, Style) else span.style
            for i in range(span.start, min(span.end, len(plain))):
                styles[i] = st
        i = 0
        while i < len(plain):  # lay out runs of one style at a time
            j = i
            while j < len(plain) and styles[j] is styles[i]:
                j += 1
            self._lay(plain[i:j], styles[i])
            i = j
        self._changed(0, full=True)

    def _changed(self, first: int, full: bool = False) -> bool:
        """Size the virtual area and follow the end. Return whether all was redrawn; if not, the
        caller redraws what changed (the lines from ``first`` on, or less)."""
        height = self.scrollable_content_region.height or 1
        last = len(self._lines) - 1
        following = self.scroll_y >= self.max_scroll_y - 1 or full
        jump = following and last >= self.scroll_y + height
        if jump:  # the text reached the bottom: put its last line a third of the way down
            self._top_pad = max(0, last - height // 3)
        self.virtual_size = Size(self._wrap, max(len(self._lines), self._top_pad + height))
        if jump or full:
            # scrolled now, not after a refresh: that would draw everything twice
            self.scroll_to(
                y=self._top_pad if jump else self.max_scroll_y, animate=False, immediate=True, force=True
            )  # force: the scrollbar this size needs is not laid out yet
            self.refresh()
            return True
        return False

    def on_resize(self) -> None:
        if self._wrap != self._width():
            self._relayout()

    # ------------------------------------------------------------------ drawing
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        idx = int(self.scroll_y) + y
        if idx >= len(self._lines):
            return Strip.blank(width, base)
        segs: list[Segment] = []
        run: list[str] = []
        style = None
        for ch, st in self._lines[idx]:
            if st is not style and run:
                segs.append(Segment("".join(run), base + style))
                run = []
            style = st
            run.append(ch)
        if run:
            segs.append(Segment("".join(run), base + style))
        return Strip(segs).extend_cell_length(width, base).crop(0, width)
