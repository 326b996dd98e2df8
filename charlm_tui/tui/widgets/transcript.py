"""The REPL transcript: prompts and generated text in one scrolling view, visually distinct.

Characters arrive in small batches; appending to a Rich Text and updating one Static keeps
redraws cheap. The transcript keeps the last MAX_CHARS characters.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

MAX_CHARS = 20_000


def confidence_style(prob: float) -> str:
    """Colour by the model's probability; low confidence is also underlined (visible without colour)."""
    if prob >= 0.6:
        return "green"
    if prob >= 0.25:
        return "yellow"
    return "red underline"


class Transcript(VerticalScroll, can_focus=True):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.text = Text()
        self.confidence = False

    def compose(self):
        yield Static(id="transcript-body")

    def _update(self) -> None:
        if len(self.text) > MAX_CHARS:
            self.text = self.text[len(self.text) - MAX_CHARS:]
        self.query_one("#transcript-body", Static).update(self.text)
        self.scroll_end(animate=False)

    def add_prompt(self, shown_prompt: str, unknown: set[str]) -> None:
        if self.text:
            self.text.append("\n\n")
        self.text.append("» ", style="bold")
        for ch in shown_prompt:
            if ch in unknown:
                self.text.append("\ufffd", style="bold reverse")
            else:
                self.text.append(ch, style="bold underline")
        self._update()

    def add_generated(self, chars: list[tuple[str, float]]) -> None:
        if self.confidence:
            for ch, p in chars:
                self.text.append(ch, style=confidence_style(p))
        else:
            self.text.append("".join(c for c, _ in chars), style="italic")
        self._update()

    def add_note(self, note: str) -> None:
        self.text.append(f"  [{note}]", style="dim")
        self._update()

    def clear(self) -> None:
        self.text = Text()
        self._update()
