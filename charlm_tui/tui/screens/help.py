"""The ? help screen and a yes/no confirmation modal."""

from __future__ import annotations

from rich.console import Group
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from charlm_tui.tui.widgets.history_input import SteadyInput

SCREENS_HELP = [  # (keys, screen, what it does)
    ("1 / F2", "Corpus", "pick a built-in corpus, one of yours, or add a file / folder glob / URL"),
    ("2 / F3", "Configure", "model and training settings, presets, parameter count, time estimate"),
    ("3 / F4", "Train", "live loss / perplexity charts, progress, ETA, LR, early stopping"),
    ("4 / F5", "Generate", "prompt -> streaming continuation; temperature changes live"),
    ("5 / F6", "Runs", "every run in the data dir: generate, resume, curves, compare, rename, delete"),
    ("? / F1", "Help", "this screen;  ctrl+p command palette;  q / ctrl+q quit (asks if training)"),
]
KEYS_HELP = [  # (screen, its keys: each item is kept on one line)
    ("Corpus", ["enter configure", "a add a file/folder/URL", "r refresh"]),
    ("Configure", ["ctrl+s start training", "ctrl+r next preset"]),
    ("Train", ["space pause/resume", "s stop (saves)", "n sample now from the best weights"]),
    (
        "Generate",
        [
            "enter send prompt",
            "esc stop the stream",
            "[ ] temperature -/+",
            "{ } top-k -/+",
            "< > length -/+",
            "( ) stream speed (25/s .. max)",
            "c confidence colours",
            "w best/last weights",
            "ctrl+s save the text",
            "ctrl+l clear",
            "up/down in the prompt: history",
        ],
    ),
    (
        "Runs",
        [
            "enter open in Generate",
            "r resume",
            "w watch live (also runs of other processes)",
            "space mark to compare (2-4 runs)",
            "d delete",
            "e rename",
            "ctrl+r refresh",
        ],
    ),
]
FOOTNOTE = (
    "Training keeps running when you change screens. Quitting while training stops the run after "
    "saving its state; resume it later from Runs (r) or 'charlm-tui train --resume ID'."
)


class ItemFlow:
    """Items joined by " · ", wrapped between items only (never inside "< > length -/+")."""

    SEP = " · "

    def __init__(self, items: list[str]):
        self.items = items

    def __rich_measure__(self, console, options) -> Measurement:
        return Measurement(max(map(len, self.items)), len(self.SEP.join(self.items)))

    def __rich_console__(self, console, options):
        lines, line = [], ""
        for item in self.items:
            candidate = f"{line}{self.SEP}{item}" if line else item
            if line and len(candidate) > options.max_width:
                lines.append(line)
                candidate = item
            line = candidate
        lines.append(line)
        yield Text("\n".join(lines))


def help_renderable(home) -> Group:
    """Tables, so that a long description wraps under itself (hanging indent) at 80 columns."""
    screens = Table.grid(padding=(0, 2, 0, 0))
    screens.add_column(no_wrap=True, style="bold")
    screens.add_column(no_wrap=True)
    screens.add_column(ratio=1)
    for row in SCREENS_HELP:
        screens.add_row(*row)
    keys = Table.grid(padding=(0, 2, 0, 0))
    keys.add_column(no_wrap=True, style="bold")
    keys.add_column(ratio=1)
    for screen, items in KEYS_HELP:
        keys.add_row(screen, ItemFlow(items))
    return Group(
        Text("charlm-tui: train character-level language models and play with them", style="bold"),
        Text(),
        Text("Screens (digits when no text box has the focus; F-keys always)"),
        screens,
        Text(),
        Text("Keys"),
        keys,
        Text(),
        Text(f"Data dir: {home}"),
        Text(FOOTNOTE),
    )


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(help_renderable(self.app.home))


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

    def __init__(self, question: str, value: str = "", check=None):
        """``check(text)`` returns why the text will not do (the dialog stays open and says so) or None."""
        super().__init__()
        self.question, self.value, self.check = question, value, check

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
        self.dismiss(text or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
