"""The Events panel: a run's events, word-wrapped to the panel (never cut off), following the
newest one unless the reader has scrolled up to read older ones.

Textual's Log decides whether to follow from where the view is when a line arrives; two lines
arriving before a layout (a pause seen in the status file and in the metrics at once) left it one
line short of the end, and it stopped following for good. Here following is a state: scrolling
up turns it off, scrolling back to the end turns it on, and nothing else changes it.
"""

from __future__ import annotations

import textwrap

from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

INDENT = "  "  # continuation lines are indented, so one event reads as one


class EventLog(ScrollView, can_focus=True):
    DEFAULT_CSS = "EventLog { overflow-x: hidden; scrollbar-gutter: stable; }"

    def __init__(self, max_lines: int = 500, **kw):
        super().__init__(**kw)
        self.max_lines = max_lines
        self.events: list[str] = []
        self._rows: list[str] = []
        self._wrap = 0
        self.follow = True
        self._moving = False  # the view is being moved to follow: not the reader scrolling

    # ------------------------------------------------------------------ what the screen calls
    def write_lines(self, lines: list[str]) -> None:
        if not lines:
            return
        self.events.extend(lines)
        if len(self.events) > self.max_lines:
            del self.events[: len(self.events) - self.max_lines]
            self._rewrap()
            return
        for line in lines:
            self._rows.extend(self._wrap_one(line))
        self._resized()

    def clear(self) -> None:
        self.events.clear()
        self._rewrap()

    # ------------------------------------------------------------------ layout
    def _width(self) -> int:
        return max(8, self.scrollable_content_region.width)

    def _wrap_one(self, line: str) -> list[str]:
        return textwrap.wrap(
            line, self._wrap, subsequent_indent=INDENT, break_long_words=True, break_on_hyphens=False
        ) or [""]

    def _rewrap(self) -> None:
        self._wrap = self._width()
        self._rows = [row for line in self.events for row in self._wrap_one(line)]
        self._resized()

    def _resized(self) -> None:
        self.virtual_size = Size(self._wrap, len(self._rows))
        if self.follow:
            self._moving = True
            try:
                self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)
            finally:
                self._moving = False
        self.refresh()

    def on_resize(self) -> None:
        if self._wrap != self._width():
            self._rewrap()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if not self._moving:
            self.follow = new >= self.max_scroll_y

    # ------------------------------------------------------------------ drawing
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        idx = int(self.scroll_y) + y
        text = self._rows[idx] if idx < len(self._rows) else ""
        return Strip([Segment(text, self.rich_style)]).extend_cell_length(width, self.rich_style).crop(0, width)
