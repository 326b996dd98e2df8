"""Nothing drawn on screen may act on the terminal.

Textual writes the text of what it draws to the terminal as it is, so an ESC that reached a widget
(from a corpus, a model's output, a file name, a hand-edited run file, a pasted prompt) would be
obeyed: the screen cleared, the title or the clipboard set (OSC 52), the cursor moved. The places
that show outside text map such characters to visible stand-ins (``formatting.printable``); this
guard is the net under all of them: the moment a line becomes terminal output (``Strip.render``, the
one place Textual turns text into output, for the terminal and for the browser alike), any such
character still in its text is removed. None of them takes a cell, so the layout is unchanged.
"""

from __future__ import annotations

import re

from rich.segment import Segment
from textual.strip import Strip

from charlm_tui.formatting import TERMINAL_CONTROLS

_CONTROLS = re.compile(TERMINAL_CONTROLS)


def install() -> None:
    """Guard ``Strip.render`` (once per process; installing again does nothing)."""
    original = Strip.render
    if getattr(original, "charlm_guard", False):
        return

    def render(self: Strip, console) -> str:
        # a line already turned into output was checked then (Textual caches it on the strip)
        if getattr(self, "_render_cache", None) is None and any(_CONTROLS.search(seg.text) for seg in self):
            clean = Strip(
                [Segment(_CONTROLS.sub("", seg.text), seg.style, seg.control) for seg in self], self.cell_length
            )
            return original(clean, console)
        return original(self, console)

    render.charlm_guard = True  # type: ignore[attr-defined]
    Strip.render = render  # type: ignore[method-assign]
