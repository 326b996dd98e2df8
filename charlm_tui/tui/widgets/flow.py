"""Items on lines, wrapped between items only: the Generate settings line and the help's key lists."""

from __future__ import annotations

from rich.measure import Measurement
from rich.text import Text


class Flow:
    """Items joined by ``sep`` and wrapped between items, never inside one ("length | 500",
    "< > length -/+"); an item wider than the width gets a line of its own."""

    def __init__(self, items: list[str] | list[Text], sep: str = "  "):
        self.items = [i if isinstance(i, Text) else Text(i) for i in items]
        self.sep = sep

    def __rich_measure__(self, console, options) -> Measurement:
        widest = max((i.cell_len for i in self.items), default=0)
        return Measurement(widest, Text(self.sep).join(self.items).cell_len)

    def __rich_console__(self, console, options):
        lines, line = [], Text()
        for item in self.items:
            if line and line.cell_len + len(self.sep) + item.cell_len > options.max_width:
                lines.append(line)
                line = Text()
            if line:
                line.append(self.sep)
            line.append_text(item)
        lines.append(line)
        yield Text("\n").join(lines)
