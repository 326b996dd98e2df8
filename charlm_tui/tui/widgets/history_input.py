"""Text inputs of the app: a steady cursor (a blinking one redraws its input twice a second,
about 2 KB/s over SSH for nothing), and the prompt box, which remembers what was entered."""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.binding import Binding
from textual.widgets import Input

# while a stream runs, these keys change its settings instead of typing into the prompt
STREAM_KEYS = frozenset("[]{}()<>")


class SteadyInput(Input):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.cursor_blink = False

    async def _on_key(self, event: events.Key) -> None:
        # The box's own editing keys (backspace, ctrl+u, arrows, ...) run here, in turn with the
        # characters around them. As Textual's bindings they ran only once the key had bubbled up
        # to the app, after the characters typed behind it had gone in: in a burst (a slow SSH link,
        # a fast typist) 'abc', backspace, 'x' ended as 'abc', and ctrl+u then '128' as ''.
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if not binding.priority and self.check_action(binding.action.partition("(")[0], ()) is not False:
                event.stop()
                event.prevent_default()
                await self.run_action(binding.action)
                return
        # otherwise Input's own handler runs next (Textual calls each class's _on_key in turn)


class LongInput(SteadyInput):
    """An input whose cost per key does not grow with its length. Textual's Input measures the cell
    width of the whole value (and of the text before the cursor) on every key: O(length) per key, so
    a 100k-character paste without bracketed paste (one key event per character) kept the app busy
    for 80+ s. Here those widths are kept and extended by what was added (tabs, whose width depends
    on their column, take Textual's own path)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._widths: dict[str, tuple[str, int]] = {}  # role -> (text, its cell width)
        self._typed: list[str] = []  # printable keys not yet inserted (one insert for a burst)

    async def _on_key(self, event) -> None:
        # Typed characters are coalesced: a burst of key events (a paste without bracketed paste)
        # becomes one insert, made after the keys already queued. Any other key first inserts
        # what was typed, so it acts on the text as typed (its binding runs after this handler).
        if event.is_printable and event.character is not None and self.selection.is_empty:
            event.stop()
            event.prevent_default()
            self._typed.append(event.character)
            if len(self._typed) == 1:
                self.call_later(self.flush_typed)
            return
        self.flush_typed()

    def flush_typed(self) -> None:
        """Insert the coalesced characters now (anything that reads the value first calls this)."""
        if self._typed:
            text, self._typed = "".join(self._typed), []
            self.insert_text_at_cursor(text)

    def _cells(self, role: str, text: str) -> int:
        old, n = self._widths.get(role, ("", 0))
        if text is not old:
            n = n + cell_len(text[len(old) :]) if old and text.startswith(old) else cell_len(text)
            self._widths[role] = (text, n)
        return n

    def _position_to_cell(self, position: int) -> int:
        value = self.value
        if "\t" in value:
            return super()._position_to_cell(position)
        return self._cells("cursor", value if position >= len(value) else value[:position])

    @property
    def content_width(self) -> int:
        value = self.value
        if not value or self.password or "\t" in value:
            return super().content_width
        return self._cells("value", value) + 1


class HistoryInput(LongInput):
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

    async def action_submit(self) -> None:
        self.flush_typed()
        await super().action_submit()

    def action_history(self, delta: int) -> None:
        self.flush_typed()
        if not self.history:
            return
        self._pos = max(0, min(len(self.history), self._pos + delta))
        self.value = self.history[self._pos] if self._pos < len(self.history) else ""
        self.cursor_position = len(self.value)


def _streaming(app) -> bool:
    """Whether the app is streaming text (an input used outside CharLMApp never is)."""
    generation = getattr(app, "generation", None)
    return bool(getattr(generation, "streaming", False))
