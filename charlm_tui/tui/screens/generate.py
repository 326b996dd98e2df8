"""The REPL: choose a run, type a prompt, watch the continuation stream in; change any sampling
setting live (the settings line lists them all: tui.controllers.generation), draw best-of-N."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Header, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from charlm_tui import formatting
from charlm_tui.core.config import stop_to_text
from charlm_tui.formatting import printable
from charlm_tui.tui.messages import BestOfFound, StreamChars, StreamEnded, StreamStarted
from charlm_tui.tui.screens.base import AppScreen
from charlm_tui.tui.screens.dialogs import AskScreen
from charlm_tui.tui.widgets.flow import Flow
from charlm_tui.tui.widgets.history_input import HistoryInput
from charlm_tui.tui.widgets.transcript import Transcript


def run_label(info) -> str:
    """A run in the picker: id, model, best validation perplexity ("no eval yet" before the first)."""
    ppl = f"ppl {formatting.number(info.best_val_ppl, '.2f')}" if info.best_val_ppl is not None else "no eval yet"
    return f"{info.id}  {info.cell} {info.size}  {ppl}"


class GenerateScreen(AppScreen):
    HELP = "prompt -> streaming continuation; sampling settings change live"

    # Keys that work whatever has the focus (a prompt never needs them): PgUp/PgDn change the
    # selected setting, ctrl+n / F7 / F8 pick which one. The old single keys stay for when no text
    # box has the focus, and [ ] { } < > ( ) while a stream runs (see HistoryInput).
    BINDINGS = [
        Binding("escape", "escape", "Stop/leave", tooltip="stop stream, or leave box"),
        Binding("pageup", "change(1)", "+", priority=True, tooltip="setting +/-"),
        Binding("pagedown", "change(-1)", "-", priority=True, tooltip="setting +/-"),
        Binding("ctrl+n", "select(1)", "Next", priority=True, tooltip="next/prev setting"),
        Binding("f8", "select(1)", "Next setting", show=False, priority=True, tooltip="next/prev setting"),
        Binding("f7", "select(-1)", "Prev setting", show=False, priority=True, tooltip="next/prev setting"),
        Binding("ctrl+t", "type_setting", "Type", priority=True, tooltip="type a value"),
        Binding("ctrl+r", "again", "Again", priority=True, tooltip="same prompt, same seed"),
        Binding("ctrl+o", "best_of", "Best-of-N", priority=True, tooltip="best-of-N, keep one"),
        Binding("ctrl+s", "save_text", "Save", tooltip="save the text"),
        Binding("ctrl+l", "clear", "Clear", show=False, tooltip="clear"),
        Binding("f9", "inspect", "Inspect", show=False, priority=True, tooltip="inspect the text"),
        Binding("enter", "focus_prompt", "Prompt", show=False),
        Binding("left_square_bracket", "temperature(-0.1)", "Temp -", show=False, tooltip="temperature -/+ (no box)"),
        Binding("right_square_bracket", "temperature(0.1)", "Temp +", show=False, tooltip="temperature -/+ (no box)"),
        Binding("left_curly_bracket", "top_k(-1)", "Top-k -", show=False, tooltip="top-k -/+ (no box)"),
        Binding("right_curly_bracket", "top_k(1)", "Top-k +", show=False, tooltip="top-k -/+ (no box)"),
        Binding("less_than_sign", "length(-100)", "Length -", show=False, tooltip="length -/+ (no box)"),
        Binding("greater_than_sign", "length(100)", "Length +", show=False, tooltip="length -/+ (no box)"),
        Binding("left_parenthesis", "pace(-1)", "Slower", show=False, tooltip="speed -/+ (no box)"),
        Binding("right_parenthesis", "pace(1)", "Faster", show=False, tooltip="speed -/+ (no box)"),
        Binding("c", "toggle_confidence", "Confidence", show=False, tooltip="colours (no box)"),
        Binding("w", "toggle_weights", "Best/last", show=False, tooltip="best/last weights (no box)"),
    ]
    HELP_WIDGETS = (HistoryInput,)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="gen-top"):
            yield Label("run")
            yield Select([], prompt="no runs yet", id="gen-run")
            yield Label("weights")
            yield Select([("best", "best"), ("last", "last")], value="best", allow_blank=False, id="gen-weights")
        yield Static("", id="gen-settings")
        yield Transcript(id="gen-transcript")
        yield HistoryInput(
            placeholder="prompt, then Enter (up/down: history; PgUp/PgDn: the selected setting)", id="gen-prompt"
        )
        yield Footer(compact=True, show_command_palette=False)  # ctrl+p still opens it; ? says so

    def on_mount(self) -> None:
        self.refresh_runs()
        self.show_settings()
        self.query_one("#gen-prompt").focus()

    def on_screen_resume(self) -> None:
        self.refresh_runs()
        self.show_settings()

    def refresh_runs(self) -> None:
        sel = self.query_one("#gen-run", Select)
        settings = self.app.generation.settings
        infos = [i for i in self.app.runs.infos() if i.damaged is None]
        options = [(run_label(i), i.id) for i in infos]
        current = settings.run_id
        with self.prevent(Select.Changed):
            # the blank entry ("no runs yet") only while there are none: it stayed beside real runs.
            # Textual has no public way to change allow_blank after construction
            sel._allow_blank = not options
            sel.set_options(options)
            ids = [i.id for i in infos]
            if current in ids:
                sel.value = current
            elif ids:
                sel.value = ids[0]
                settings.run_id = ids[0]

    @on(Select.Changed, "#gen-run")
    def _run_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.app.generation.settings.run_id = event.value

    @on(Select.Changed, "#gen-weights")
    def _weights_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.app.generation.settings.weights = event.value
        self.show_settings()

    def show_settings(self) -> None:
        if not self.is_mounted:
            return
        s = self.app.generation.settings
        self.query_one(Transcript).confidence = s.confidence
        weights = self.query_one("#gen-weights", Select)
        if weights.value != s.weights:
            with self.prevent(Select.Changed):
                weights.value = s.weights
        items = []
        for name, label, value in s.shown():
            if name == s.selected:  # reverse video, and a marker that reads without colour
                items.append(Text(f"▸{label} {value}", style="bold reverse"))
            else:
                items.append(Text.assemble(f"{label} ", (value, "bold")))
        hint = Text()
        if self.app.generation.streaming:
            hint.append("● streaming, esc stops · ", style="bold")
        hint.append("PgUp/PgDn change · ^n next · ^t type · ^r same again · ^o best-of", style="dim")
        t = Group(Flow(items), hint)
        self.query_one("#gen-settings", Static).update(t)

    @on(Input.Submitted, "#gen-prompt")
    def _submit(self, event: Input.Submitted) -> None:
        prompt = event.value
        inp = self.query_one("#gen-prompt", HistoryInput)
        inp.remember(prompt)
        inp.value = ""
        if self.app.generation.start(prompt):
            self.show_settings()  # the focus stays here: the stream's keys work with it

    # ------------------------------------------------------------- told by the generation controller
    def on_stream_started(self, msg: StreamStarted) -> None:
        self.query_one(Transcript).add_prompt(msg.prompt, msg.unknown)

    def on_stream_chars(self, msg: StreamChars) -> None:
        self.query_one(Transcript).add_generated(msg.chars)

    def on_stream_ended(self, msg: StreamEnded) -> None:
        if msg.note:
            self.query_one(Transcript).add_note(msg.note)
        self.show_settings()

    def on_best_of_found(self, found: BestOfFound) -> None:
        msg = found.found

        def keep(rank: int | None) -> None:
            if rank is None:
                return
            c = msg.candidates[rank]
            tr = self.query_one(Transcript)
            tr.add_prompt(msg.prompt, msg.unknown)
            tr.add_generated(list(zip(c.text, c.probs)))
            tr.add_note(f"best-of-{len(msg.candidates)} #{rank + 1}: {c.bits_per_char:.3f} bits/char, seed {msg.seed}")

        self.app.push_screen(BestOfScreen(msg.prompt, msg.candidates, msg.seconds), keep)

    # ------------------------------------------------------------- actions
    def action_escape(self) -> None:
        if self.app.generation.streaming:
            self.app.generation.stop()
        elif isinstance(self.app.focused, Input):
            self.set_focus(None)  # now the digits switch screens and q quits, as elsewhere

    def action_focus_prompt(self) -> None:
        self.query_one("#gen-prompt").focus()

    def action_change(self, step: int) -> None:
        self.app.generation.settings.change(step)
        self.show_settings()

    def action_select(self, step: int) -> None:
        self.app.generation.settings.select(step)
        self.show_settings()

    def action_type_setting(self) -> None:
        settings = self.app.generation.settings
        name, label, value = next(x for x in settings.shown() if x[0] == settings.selected)
        hints = {
            "stop": "several: separate them with |; \\n is a newline (\\n\\n: a blank line); empty: none",
            "seed": "a whole number; empty: a new seed for every stream",
        }
        question = f"{label} (now {value})" + (f"\n{hints[name]}" if name in hints else "")
        if name == "stop":
            current = " | ".join(stop_to_text(x) for x in settings.control.stop)
        elif name == "seed":
            current = "" if settings.seed is None else str(settings.seed)
        else:
            current = "" if value == "off" else value

        def done(text: str | None) -> None:
            if text is not None:  # None: cancelled
                problem = settings.set_text(text)
                if problem:
                    self.app.notify(problem, severity="warning")
            self.show_settings()

        self.app.push_screen(AskScreen(question, current, allow_empty=True), done)

    def action_again(self) -> None:
        if self.app.generation.again():
            self.show_settings()

    def action_best_of(self) -> None:
        inp = self.query_one("#gen-prompt", HistoryInput)
        prompt = inp.value or self.app.generation.last_prompt
        if prompt is None:
            prompt = ""
        if inp.value:
            inp.remember(prompt)
            inp.value = ""
        if self.app.generation.start_best_of(prompt):
            self.query_one(Transcript).add_note(f"drawing {self.app.generation.settings.best_of} continuations...")
            self.show_settings()

    def action_temperature(self, delta: float) -> None:
        self.app.generation.settings.change_temperature(delta)
        self.show_settings()

    def action_top_k(self, delta: int) -> None:
        self.app.generation.settings.change_top_k(delta)
        self.show_settings()

    def action_length(self, delta: int) -> None:
        self.app.generation.settings.change_length(delta)
        self.show_settings()

    def action_pace(self, step: int) -> None:
        self.app.generation.settings.change_pace(step)
        self.show_settings()

    def action_toggle_confidence(self) -> None:
        self.app.generation.settings.change(1, "confidence")
        self.show_settings()

    def action_toggle_weights(self) -> None:
        self.app.generation.settings.change(1, "weights")
        self.show_settings()

    def action_save_text(self) -> None:
        self.app.generation.save_sample(self.query_one(Transcript).text.plain)

    def action_clear(self) -> None:
        self.query_one(Transcript).clear()

    def action_inspect(self) -> None:
        """The transcript in the Inspect screen, scored by the run it came from."""
        rid = self.app.generation.settings.run_id
        if rid is None:
            self.notify("Pick a run first.", severity="warning")
            return
        from charlm_tui.tui.screens.inspect import InspectScreen

        self.app.push_screen(InspectScreen(rid, "transcript", self.query_one(Transcript).text.plain))


class BestOfScreen(ModalScreen[int | None]):
    """Best-of-N's continuations, best first, with the model's score for each: enter keeps the
    highlighted one in the transcript, escape keeps none."""

    BINDINGS = [Binding("escape", "dismiss_none", "Keep none"), Binding("enter", "keep", "Keep", show=False)]

    def __init__(self, prompt: str, candidates: list, seconds: float):
        super().__init__()
        self.prompt, self.candidates, self.seconds = prompt, candidates, seconds

    def compose(self) -> ComposeResult:
        n = len(self.candidates)
        chars = sum(c.chars for c in self.candidates)
        with Vertical(classes="dialog", id="best-of"):
            yield Static(
                f"{n} continuations in {self.seconds:.2f} s ({chars / max(self.seconds, 1e-9):,.0f} chars/s), "
                "best first by the model's mean log-probability. Enter keeps one; esc keeps none.",
                markup=False,
            )
            options = []
            for i, c in enumerate(self.candidates):
                preview = ("…" + self.prompt[-30:] if len(self.prompt) > 30 else self.prompt) + c.text[:240]
                preview = printable(preview.replace("\n", "⏎ "), tab_size=8)
                t = Text(f"#{i + 1}  {c.bits_per_char:.3f} bits/char{'  (stop)' if c.stopped else ''}\n", style="bold")
                t.append(preview)
                options.append(Option(t, id=str(i)))
            yield OptionList(*options, id="best-of-list")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))

    def action_keep(self) -> None:
        ol = self.query_one(OptionList)
        self.dismiss(ol.highlighted if ol.highlighted is not None else 0)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
