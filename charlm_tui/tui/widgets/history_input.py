"""Text inputs of the app: a steady cursor (a blinking one redraws its input twice a second,
about 2 KB/s over SSH for nothing), and the prompt box, which remembers what was entered."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input

# while a stream runs, these keys change its settings instead of typing into the prompt
STREAM_KEYS = frozenset("[]{}()<>")


class SteadyInput(Input):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.cursor_blink = False


class HistoryInput(SteadyInput):
    """The prompt box: up/down walk the history; while a stream runs, the stream's keys
    (STREAM_KEYS, and escape) reach the screen's bindings, so the focus never has to move."""

    BINDINGS = [
        Binding("enter", "submit", "Send", show=False, tooltip="send prompt"),
        Binding("up", "history(-1)", "Previous", show=False, tooltip="in the prompt: history"),
        Binding("down", "history(1)", "Next", show=False, tooltip="in the prompt: history"),
    ]

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.history: list[str] = []
        self._pos = 0

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if character in STREAM_KEYS and _streaming(self.app):
            return False
        return super().check_consume_key(key, character)

    async def _on_key(self, event) -> None:
        # Textual calls Input._on_key after this one unless the default is prevented
        if event.character in STREAM_KEYS and _streaming(self.app):
            event.prevent_default()  # not typed; bubbling on, the key reaches the screen's binding

    def remember(self, value: str) -> None:
        if value and (not self.history or self.history[-1] != value):
            self.history.append(value)
        self._pos = len(self.history)

    def action_history(self, delta: int) -> None:
        if not self.history:
            return
        self._pos = max(0, min(len(self.history), self._pos + delta))
        self.value = self.history[self._pos] if self._pos < len(self.history) else ""
        self.cursor_position = len(self.value)


def _streaming(app) -> bool:
    """Whether the app is streaming text (an input used outside CharLMApp never is)."""
    generation = getattr(app, "generation", None)
    return bool(getattr(generation, "streaming", False))
