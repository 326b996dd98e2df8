"""Modal dialogs: a yes/no confirmation, and a one-line question (a new run name)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from charlm_tui.tui.widgets.history_input import SteadyInput


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question. "No" has the focus, so Enter (or a space) answers no: typing meant for
    another box (a prompt that ends with Enter) must not confirm a delete; "y" answers yes."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]
    AUTO_FOCUS = "#no"

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class AskScreen(ModalScreen[str | None]):
    """Ask for one line of text (e.g. a new run name)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "", check=None, allow_empty: bool = False):
        """``check(text)`` returns why the text will not do (the dialog stays open and says so) or
        None. Empty text answers None (cancelled) unless ``allow_empty``: then it answers ""."""
        super().__init__()
        self.question, self.value, self.check, self.allow_empty = question, value, check, allow_empty

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, markup=False)
            yield SteadyInput(self.value, id="ask-input")
            yield Static("", id="ask-problem", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        problem = self.check(text) if (text and self.check) else None
        if problem:
            self.query_one("#ask-problem", Static).update(problem)
            return
        self.dismiss(text if (text or self.allow_empty) else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
