"""The REPL: choose a run, type a prompt, watch the continuation stream in; change the
temperature, top-k, length and stream speed live."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Header, Input, Label, Select, Static

from charlm_tui.tui.messages import StreamChars, StreamEnded, StreamStarted
from charlm_tui.tui.screens.base import AppScreen
from charlm_tui.tui.widgets.history_input import HistoryInput
from charlm_tui.tui.widgets.transcript import Transcript


def run_label(info) -> str:
    """A run in the picker: id, model, best validation perplexity ("no eval yet" before the first)."""
    ppl = f"ppl {info.best_val_ppl:.2f}" if info.best_val_ppl is not None else "no eval yet"
    return f"{info.id}  {info.cell} {info.size}  {ppl}"


class GenerateScreen(AppScreen):
    HELP = "prompt -> streaming continuation; temperature changes live"

    BINDINGS = [
        Binding("escape", "stop_stream", "Stop stream", tooltip="stop the stream"),
        Binding("left_square_bracket", "temperature(-0.1)", "Temp -", tooltip="temperature -/+"),
        Binding("right_square_bracket", "temperature(0.1)", "Temp +", tooltip="temperature -/+"),
        Binding("left_curly_bracket", "top_k(-1)", "Top-k -", show=False, tooltip="top-k -/+"),
        Binding("right_curly_bracket", "top_k(1)", "Top-k +", show=False, tooltip="top-k -/+"),
        Binding("less_than_sign", "length(-100)", "Length -", show=False, tooltip="length -/+"),
        Binding("greater_than_sign", "length(100)", "Length +", show=False, tooltip="length -/+"),
        Binding("left_parenthesis", "pace(-1)", "Slower", show=False, tooltip="stream speed (25/s .. max)"),
        Binding("right_parenthesis", "pace(1)", "Faster", show=False, tooltip="stream speed (25/s .. max)"),
        Binding("c", "toggle_confidence", "Confidence", tooltip="confidence colours"),
        Binding("w", "toggle_weights", "Best/last", tooltip="best/last weights"),
        Binding("ctrl+s", "save_text", "Save text", tooltip="save the text"),
        Binding("ctrl+l", "clear", "Clear", show=False, tooltip="clear"),
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
            placeholder="prompt, then Enter (up/down: history; [ ] temperature while streaming)", id="gen-prompt"
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
        self.app.generation.settings.weights = str(event.value)
        self.show_settings()

    def show_settings(self) -> None:
        if not self.is_mounted:
            return
        s = self.app.generation.settings
        c = s.control
        settings = [
            (f"temperature {c.temperature:.2f}", "[ ]"),
            (f"top-k {c.top_k or 'off'}", "{ }"),
            (f"length {s.length}", "< >"),
            (f"speed {f'{s.pace}/s' if s.pace else 'max'}", "( )"),
            (f"confidence {'on' if self.query_one(Transcript).confidence else 'off'}", "c"),
            (f"weights {s.weights}", "w"),
        ]
        t = Text()
        for i, (value, keys) in enumerate(settings):
            t.append(value, style="bold")
            t.append(f" {keys}" + ("   " if i < len(settings) - 1 else ""))
        if self.app.generation.streaming:
            t.append("   ● streaming (esc stops)", style="bold")
        self.query_one("#gen-settings", Static).update(t)

    @on(Input.Submitted, "#gen-prompt")
    def _submit(self, event: Input.Submitted) -> None:
        prompt = event.value
        inp = self.query_one("#gen-prompt", HistoryInput)
        inp.remember(prompt)
        inp.value = ""
        if self.app.generation.start(prompt):
            self.show_settings()  # the focus stays here: the prompt box lets the stream's keys through

    # ------------------------------------------------------------- told by the generation controller
    def on_stream_started(self, msg: StreamStarted) -> None:
        self.query_one(Transcript).add_prompt(msg.prompt, msg.unknown)

    def on_stream_chars(self, msg: StreamChars) -> None:
        self.query_one(Transcript).add_generated(msg.chars)

    def on_stream_ended(self, msg: StreamEnded) -> None:
        if msg.note:
            self.query_one(Transcript).add_note(msg.note)
        self.show_settings()

    # ------------------------------------------------------------- actions
    def action_stop_stream(self) -> None:
        self.app.generation.stop()

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
        tr = self.query_one(Transcript)
        tr.confidence = not tr.confidence
        self.show_settings()

    def action_toggle_weights(self) -> None:
        sel = self.query_one("#gen-weights", Select)
        sel.value = "last" if sel.value == "best" else "best"

    def action_save_text(self) -> None:
        self.app.generation.save_sample(self.query_one(Transcript).text.plain)

    def action_clear(self) -> None:
        self.query_one(Transcript).clear()
