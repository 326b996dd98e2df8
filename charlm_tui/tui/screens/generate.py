"""The REPL: choose a run, type a prompt, watch the continuation stream in; change the
temperature, top-k, length and stream speed live."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, Select, Static

from charlm_tui.tui.generation_actions import DEFAULT_PACE, PACES
from charlm_tui.tui.widgets.history_input import HistoryInput
from charlm_tui.tui.widgets.transcript import Transcript


def run_label(info) -> str:
    """A run in the picker: id, model, best validation perplexity ("no eval yet" before the first)."""
    ppl = f"ppl {info.best_val_ppl:.2f}" if info.best_val_ppl is not None else "no eval yet"
    return f"{info.id}  {info.cell} {info.size}  {ppl}"


class GenerateScreen(Screen):
    BINDINGS = [
        Binding("escape", "stop_stream", "Stop stream"),
        Binding("left_square_bracket", "temperature(-0.1)", "Temp -"),
        Binding("right_square_bracket", "temperature(0.1)", "Temp +"),
        Binding("left_curly_bracket", "top_k(-1)", "Top-k -", show=False),
        Binding("right_curly_bracket", "top_k(1)", "Top-k +", show=False),
        Binding("less_than_sign", "length(-100)", "Length -", show=False),
        Binding("greater_than_sign", "length(100)", "Length +", show=False),
        Binding("left_parenthesis", "pace(-1)", "Slower", show=False),
        Binding("right_parenthesis", "pace(1)", "Faster", show=False),
        Binding("c", "toggle_confidence", "Confidence"),
        Binding("w", "toggle_weights", "Best/last"),
        Binding("ctrl+l", "clear", "Clear", show=False),
        Binding("ctrl+s", "save_text", "Save text"),
    ]

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
        infos = [i for i in self.app.list_runs() if i.damaged is None]
        options = [(run_label(i), i.id) for i in infos]
        current = self.app.gen_run_id
        with self.prevent(Select.Changed):
            sel.set_options(options)
            ids = [i.id for i in infos]
            if current in ids:
                sel.value = current
            elif ids:
                sel.value = ids[0]
                self.app.gen_run_id = ids[0]

    @on(Select.Changed, "#gen-run")
    def _run_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.app.gen_run_id = event.value

    @on(Select.Changed, "#gen-weights")
    def _weights_changed(self, event: Select.Changed) -> None:
        self.app.gen_weights = event.value
        self.show_settings()

    def show_settings(self) -> None:
        if not self.is_mounted:
            return
        c, app = self.app.control, self.app
        settings = [
            (f"temperature {c.temperature:.2f}", "[ ]"),
            (f"top-k {c.top_k or 'off'}", "{ }"),
            (f"length {app.gen_length}", "< >"),
            (f"speed {f'{app.gen_pace}/s' if app.gen_pace else 'max'}", "( )"),
            (f"confidence {'on' if self.query_one(Transcript).confidence else 'off'}", "c"),
            (f"weights {app.gen_weights}", "w"),
        ]
        t = Text()
        for i, (value, keys) in enumerate(settings):
            t.append(value, style="bold")
            t.append(f" {keys}" + ("   " if i < len(settings) - 1 else ""))
        if self.app.streaming:
            t.append("   ● streaming (esc stops)", style="bold")
        self.query_one("#gen-settings", Static).update(t)

    @on(Input.Submitted, "#gen-prompt")
    def _submit(self, event: Input.Submitted) -> None:
        prompt = event.value
        inp = self.query_one("#gen-prompt", HistoryInput)
        inp.remember(prompt)
        inp.value = ""
        if self.app.start_generation(prompt):
            self.show_settings()  # the focus stays here: the prompt box lets the stream's keys through

    def stream_started(self, prompt: str, unknown: set[str]) -> None:
        self.query_one(Transcript).add_prompt(prompt, unknown)

    def stream_chars(self, chars: list[tuple[str, float]]) -> None:
        self.query_one(Transcript).add_generated(chars)

    def stream_ended(self, note: str | None = None) -> None:
        if note:
            self.query_one(Transcript).add_note(note)
        self.show_settings()

    # ------------------------------------------------------------- actions
    def action_stop_stream(self) -> None:
        self.app.stop_generation()

    def action_temperature(self, delta: float) -> None:
        c = self.app.control
        c.set_temperature(round(c.temperature + delta, 2))
        self.show_settings()

    def action_top_k(self, delta: int) -> None:
        c = self.app.control
        k = max(0, (c.top_k or 0) + delta)
        c.top_k = k or None
        self.show_settings()

    def action_length(self, delta: int) -> None:
        self.app.gen_length = max(100, min(20_000, self.app.gen_length + delta))
        self.show_settings()

    def action_pace(self, step: int) -> None:
        i = PACES.index(self.app.gen_pace) if self.app.gen_pace in PACES else PACES.index(DEFAULT_PACE)
        self.app.gen_pace = PACES[max(0, min(len(PACES) - 1, i + step))]
        self.show_settings()

    def action_toggle_confidence(self) -> None:
        tr = self.query_one(Transcript)
        tr.confidence = not tr.confidence
        self.show_settings()

    def action_toggle_weights(self) -> None:
        sel = self.query_one("#gen-weights", Select)
        sel.value = "last" if sel.value == "best" else "best"

    def action_save_text(self) -> None:
        self.app.save_sample(self.query_one(Transcript).text.plain)

    def action_clear(self) -> None:
        self.query_one(Transcript).clear()
