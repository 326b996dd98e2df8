"""A long text coloured character by character (the model's surprisal, or one unit's activation),
with a cursor. Only the visible lines are drawn (Textual's line API), so a 100k-character text
scrolls and moves its cursor as fast as a short one; the colours fill in as scoring proceeds."""

from __future__ import annotations

import bisect
import math

import numpy as np
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from charlm_tui import formatting
from charlm_tui.core.analysis import page

_MARKS = {"underline": Style(underline=True), "reverse": Style(reverse=True), "": Style()}


class InspectText(ScrollView, can_focus=True):
    """The text of an inspection. ``values`` are per character: bits (``mode`` "bits") or an
    activation (``mode`` "unit", with its scale); NaN: not scored (yet)."""

    BINDINGS = [
        Binding("left", "move(-1)", "Previous char", show=False),
        Binding("right", "move(1)", "Next char", show=False),
        Binding("up", "line(-1)", "Line up", show=False),
        Binding("down", "line(1)", "Line down", show=False),
        Binding("pageup", "line(-10)", "Page up", show=False),
        Binding("pagedown", "line(10)", "Page down", show=False),
        Binding("home", "jump(0)", "Start", show=False),
        Binding("end", "jump(-1)", "End", show=False),
    ]
    cursor: reactive[int] = reactive(0)

    class Moved(Message):
        def __init__(self, index: int):
            super().__init__()
            self.index = index

    def __init__(self, **kw):
        super().__init__(**kw)
        self.text = ""
        self.values = np.zeros(0)
        self.mode = "bits"
        self.scale = 1.0
        self.colour = True  # False under NO_COLOR: marks only
        self._starts: list[int] = [0]  # the first character of each wrapped line
        self._width = 0

    # ------------------------------------------------------------------ content
    def set_text(self, text: str) -> None:
        self.text = text
        self.values = np.full(len(text), np.nan)
        self.cursor = min(self.cursor, max(0, len(text) - 1))
        self._wrap()

    def set_values(self, values: np.ndarray, mode: str) -> None:
        self.values, self.mode = values, mode
        self.scale = page.act_scale(values) if mode == "unit" else 1.0
        self.refresh()

    def _wrap(self) -> None:
        width = max(10, self.scrollable_content_region.width or self.size.width or 80)
        self._width = width
        starts, col = [0], 0
        for i, ch in enumerate(self.text):
            if ch == "\n":
                starts.append(i + 1)
                col = 0
                continue
            w = max(1, cell_len(formatting.printable(ch, 4)))
            if col + w > width:
                starts.append(i)
                col = 0
            col += w
        self._starts = starts
        self.virtual_size = Size(width, len(starts))
        self.refresh()

    def on_resize(self) -> None:
        if self.scrollable_content_region.width != self._width:
            self._wrap()

    # ------------------------------------------------------------------ drawing
    def _style(self, i: int) -> Style:
        v = float(self.values[i]) if i < len(self.values) else math.nan
        if self.mode == "bits":
            _hi, colour, mark = page.BANDS[page.band(v)]
        else:
            colour, mark = page.act_color(v, self.scale), page.act_mark(v, self.scale)
        style = _MARKS[mark] if not self.colour else Style()
        if self.colour and colour:
            style = Style(bgcolor=colour, color="black")
        if i == self.cursor:
            style += Style(reverse=not style.reverse, bold=True)
        return style

    def render_line(self, y: int) -> Strip:
        _sx, sy = self.scroll_offset
        row = y + sy
        if row >= len(self._starts):
            return Strip.blank(self.size.width, self.rich_style)
        start = self._starts[row]
        end = self._starts[row + 1] if row + 1 < len(self._starts) else len(self.text)
        segs = []
        for i in range(start, end):
            ch = self.text[i]
            shown = " " if ch == "\n" else formatting.printable(ch, 4) or " "
            if ch == "\n" and i != self.cursor:
                continue
            segs.append(Segment(shown, self._style(i)))
        # every segment styled: under NO_COLOR Textual's monochrome filter reads each one's style
        return Strip(segs).adjust_cell_length(self.size.width, self.rich_style)

    # ------------------------------------------------------------------ the cursor
    def _row_of(self, i: int) -> int:
        return bisect.bisect_right(self._starts, i) - 1

    def watch_cursor(self, old: int, new: int) -> None:
        row = self._row_of(new)
        self._keep_visible(row)
        self.refresh()
        self.post_message(self.Moved(new))

    def _keep_visible(self, row: int) -> None:
        top = int(self.scroll_offset.y)
        height = max(1, self.scrollable_content_region.height)
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False)

    def action_move(self, by: int) -> None:
        if self.text:
            self.cursor = max(0, min(len(self.text) - 1, self.cursor + by))

    def action_line(self, by: int) -> None:
        if not self.text:
            return
        row = self._row_of(self.cursor)
        col = self.cursor - self._starts[row]
        target = max(0, min(len(self._starts) - 1, row + by))
        end = self._starts[target + 1] - 1 if target + 1 < len(self._starts) else len(self.text) - 1
        self.cursor = max(self._starts[target], min(end, self._starts[target] + col))

    def action_jump(self, where: int) -> None:
        if self.text:
            self.cursor = 0 if where == 0 else len(self.text) - 1
