"""The ? help screen and a yes/no confirmation modal."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

HELP = """\
charlm-tui: train character-level language models and play with them

Screens (digits when no text box has the focus; F-keys always)
  1 / F2  Corpus     pick a built-in corpus, one of yours, or add a file / folder glob / URL
  2 / F3  Configure  model and training settings, presets, parameter count, time estimate
  3 / F4  Train      live loss / perplexity charts, progress, ETA, LR, early stopping
  4 / F5  Generate   prompt -> streaming continuation; temperature changes live
  5 / F6  Runs       every run in the data dir: generate, resume, curves, rename, delete
  ? / F1  this help     ctrl+p  command palette     q / ctrl+q  quit (asks if training)

Corpus      enter configure   a add a file/folder/URL   r refresh
Configure   ctrl+s start training   ctrl+r next preset
Train       space pause/resume   s stop (saves)   n sample now from the best weights
Generate    enter send prompt   esc stop the stream   [ ] temperature -/+   { } top-k -/+
            < > length -/+   c confidence colours   w best/last weights   ctrl+l clear
            ( ) stream speed (25/s .. max)   up/down in the prompt: history
Runs        enter open in Generate   r resume   w watch live (also runs of other processes)
            d delete   e rename   ctrl+r refresh

Data dir: {home}
Training keeps running when you change screens. Quitting while training stops the run
after saving its state; resume it later from Runs (r) or 'charlm-tui train --resume ID'.
"""


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(HELP.replace("{home}", str(self.app.home)), markup=False)


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

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

    def __init__(self, question: str, value: str = ""):
        super().__init__()
        self.question, self.value = question, value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, markup=False)
            yield Input(self.value, id="ask-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
