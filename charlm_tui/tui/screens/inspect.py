"""Look inside a run: its validation text (or a file, a pasted text, the Generate transcript)
coloured by the bits the model paid for each character, or by one hidden unit's activation; the
cursor shows the model's top 5 predictions there; discovery ranks the units that track simple
features of the text. Scoring runs in a worker; the text shows at once and colours as it is scored."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Footer, Header, Input, OptionList, Select, Static
from textual.widgets.option_list import Option

from charlm_tui import formatting
from charlm_tui.tui.screens.base import AppScreen
from charlm_tui.tui.widgets.history_input import SteadyInput
from charlm_tui.tui.widgets.inspect_text import InspectText

SOURCES = [
    ("validation text", "validation"),
    ("Generate transcript", "transcript"),
    ("a file (type its path)", "file"),
    ("pasted or typed text", "paste"),
]
VIEWS = [("surprisal (bits per char)", "bits"), ("cell view (one unit)", "unit")]
PROGRESS_EVERY_S = 0.25


@dataclass
class Scoring(Message):
    token: int
    fraction: float
    scored: Any  # the arrays being filled (the view reads them as they fill)


@dataclass
class Scored(Message):
    token: int
    inspection: Any
    error: str | None = None


@dataclass
class Discovered(Message):
    token: int
    discovery: Any
    error: str | None = None


class InspectScreen(AppScreen):
    HELP = "inside a run: surprisal per character, a unit's activation, discovery of what units track"

    BINDINGS = [
        Binding("escape", "leave", "Back", tooltip="back to the screen before"),
        Binding("v", "toggle_view", "View", tooltip="surprisal / cell view"),
        Binding("d", "discover", "Discover", tooltip="rank the units by the features they track"),
        Binding("u", "focus_unit", "Unit", tooltip="type a unit (layer:index)"),
        Binding("t", "focus_text", "Text", show=False, tooltip="move the cursor in the text"),
    ]

    def __init__(self, run_id: str, source: str = "validation", text: str | None = None):
        super().__init__()
        self.run_id, self.source, self.given = run_id, source, text
        self.inspection: Any = None  # core.analysis.session.Inspection, once scored
        self.discovery: Any = None  # core.analysis.discovery.Discovery, once asked for
        self._token = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(classes="config-selects"):
            yield Select(SOURCES, value=self.source, allow_blank=False, id="ins-source")
            yield Select(VIEWS, value="bits", allow_blank=False, id="ins-view")
            yield SteadyInput(placeholder="unit layer:index", value="0:0", id="ins-unit", classes="compact")
        yield SteadyInput(placeholder="", id="ins-input", classes="compact")
        yield Static("", id="ins-headline")
        yield Static("", id="ins-legend")
        yield InspectText(id="ins-text")
        yield Static("", id="ins-info")
        yield OptionList(id="ins-discovery")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = f"inspect {self.run_id}"
        self.query_one(InspectText).colour = not os.environ.get("NO_COLOR")
        self.query_one("#ins-discovery").display = False
        self._show_input()
        self.start()
        self.query_one(InspectText).focus()

    # ------------------------------------------------------------------ scoring
    def _text(self) -> tuple[str | None, str | None]:
        """(the text to score, what it is); (None, None) for the validation text."""
        src = self.source
        if src == "validation":
            return None, None
        if src == "transcript":
            return (self.given if self.given is not None else self._transcript()), "the Generate transcript"
        raw = self.query_one("#ins-input", Input).value
        if src == "paste":
            return raw.replace("\\n", "\n"), "the pasted text"
        from charlm_tui.core.analysis.session import MAX_TEXT_BYTES
        from charlm_tui.core.bounded_read import read_text_bounded

        path = os.path.expanduser(raw.strip())
        return read_text_bounded(path, MAX_TEXT_BYTES), os.path.basename(path)

    def _transcript(self) -> str:
        from charlm_tui.tui.widgets.transcript import Transcript

        try:
            return self.app.get_screen("generate").query_one(Transcript).text.plain
        except Exception:
            return ""

    def start(self) -> None:
        self._token += 1
        self.inspection = self.discovery = None
        self.query_one("#ins-discovery", OptionList).display = False
        try:
            text, what = self._text()
        except (OSError, ValueError) as e:
            self._headline(f"cannot read it: {e}", error=True)
            return
        if text is not None and len(text) < 2:
            self._headline("nothing to score yet: give a text of two characters or more", error=True)
            return
        self._headline(f"scoring {what or 'the validation text'} with {self.run_id}...")
        self._score(self._token, text, what)

    @work(thread=True, exclusive=True, group="inspect", exit_on_error=False)
    def _score(self, token: int, text: str | None, what: str | None) -> None:
        from charlm_tui.core.analysis.session import inspect_run
        from charlm_tui.core.errors import CharLMError

        last = [0.0]

        def on_text(t: str) -> None:
            self.app.call_from_thread(self._show_text, token, t)

        def on_batch(scored, fraction: float) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S:
                last[0] = now
                self.post_message(Scoring(token, fraction, scored))

        try:
            ins = inspect_run(self.app.home, self.run_id, text, what, on_batch=on_batch, on_text=on_text)
            self.post_message(Scored(token, ins))
        except CharLMError as e:
            self.post_message(Scored(token, None, str(e)))
        except Exception as e:  # a failure must reach the screen, not end the worker silently
            self.post_message(Scored(token, None, f"{type(e).__name__}: {e}"))

    def _show_text(self, token: int, text: str) -> None:
        """The text, before it is scored; only the current scoring's (a text left for another
        while it was being read came late, and blanked the colours of the one scored since)."""
        if token == self._token:
            self.query_one(InspectText).set_text(text)

    def on_scoring(self, msg: Scoring) -> None:
        if msg.token == self._token:
            self._headline(f"scoring... {100 * msg.fraction:.0f}%")
            view = self.query_one(InspectText)
            if view.mode == "bits" and view.values is not msg.scored.bits:
                view.set_values(msg.scored.bits, "bits")
            view.refresh()

    def on_scored(self, msg: Scored) -> None:
        if msg.token != self._token:
            return
        if msg.inspection is None:
            self._headline(msg.error or "could not score the text", error=True)
            return
        self.inspection = ins = msg.inspection
        view = self.query_one(InspectText)
        if view.text != ins.scored.text:
            view.set_text(ins.scored.text)
        self._headline(ins.headline())
        self._apply_view()
        self._info(view.cursor)

    # ------------------------------------------------------------------ views
    def _apply_view(self) -> None:
        ins = self.inspection
        view = self.query_one(InspectText)
        legend = self.query_one("#ins-legend", Static)
        if ins is None:
            return
        s = ins.scored
        if self._view() == "bits":
            view.set_values(s.bits, "bits")
            legend.update(_legend())
            self._info(view.cursor)
            return
        unit = self._unit()
        if unit is None:
            legend.update(
                Text(f"unit: type layer:index, layer 0-{s.layers - 1}, index 0-{s.hidden - 1}", style="yellow")
            )
            return
        values = s.unit(*unit)
        view.set_values(values, "unit")
        legend.update(
            f"unit {unit[0]}:{unit[1]}, its {s.activation_kind} after each character: "
            f"blue -{view.scale:.2f} .. white 0 .. red +{view.scale:.2f}"
            + ("" if view.colour else " (no colour: the strongest half underlined / reversed)")
        )
        self._info(view.cursor)

    def _view(self) -> str:
        return str(self.query_one("#ins-view", Select).value)

    def _unit(self) -> tuple[int, int] | None:
        s = self.inspection.scored if self.inspection is not None else None
        layer, sep, index = self.query_one("#ins-unit", Input).value.strip().partition(":")
        if s is None or not sep or not layer.isdigit() or not index.isdigit():
            return None
        lu, iu = int(layer), int(index)
        return (lu, iu) if lu < s.layers and iu < s.hidden else None

    def _headline(self, text: str, error: bool = False) -> None:
        self.query_one("#ins-headline", Static).update(
            Text(formatting.printable(text), style="bold red" if error else "bold")
        )

    def _show_input(self) -> None:
        box = self.query_one("#ins-input", Input)
        box.display = self.source in ("file", "paste")
        box.placeholder = (
            "path to a UTF-8 file, then Enter"
            if self.source == "file"
            else "paste or type a text (\\n: a newline), then Enter"
        )

    def _info(self, i: int) -> None:
        ins = self.inspection
        info = self.query_one("#ins-info", Static)
        if ins is None or not ins.scored.text:
            info.update("")
            return
        s = ins.scored
        ch = s.text[i]
        what = repr(ch) if ch.isprintable() else formatting.printable(repr(ch))
        bits = s.bits[i]
        line = f"char {i:,} {what}: "
        line += "not scored (the first character, or past the last stream)" if bits != bits else f"paid {bits:.2f} bits"
        preds = ins.predictions(i)
        if preds and bits == bits:
            line += "; it expected " + ", ".join(f"{formatting.printable(repr(c))} {100 * p:.1f}%" for c, p in preds)
        if self._view() == "unit" and (unit := self._unit()) is not None:
            a = s.unit(*unit)[i]
            line += f"; unit {unit[0]}:{unit[1]} = {a:+.3f}" if a == a else ""
        info.update(line)

    # ------------------------------------------------------------------ events and keys
    @on(InspectText.Moved)
    def _moved(self, msg: InspectText.Moved) -> None:
        self._info(msg.index)

    @on(Select.Changed, "#ins-source")
    def _source_changed(self, event: Select.Changed) -> None:
        if str(event.value) == self.source:  # the Select's first value, posted as it mounts: scored already
            return
        self.source = str(event.value)
        self._show_input()
        if self.source in ("validation", "transcript"):
            self.start()
        else:
            self.query_one("#ins-input", Input).focus()

    @on(Input.Submitted, "#ins-input")
    def _text_given(self) -> None:
        self.start()
        self.query_one(InspectText).focus()

    @on(Select.Changed, "#ins-view")
    def _view_changed(self) -> None:
        self._apply_view()

    @on(Input.Changed, "#ins-unit")
    def _unit_changed(self) -> None:
        if self._view() == "unit":
            self._apply_view()

    @on(Input.Submitted, "#ins-unit")
    def _unit_given(self) -> None:
        self.query_one("#ins-view", Select).value = "unit"
        self._apply_view()
        self.query_one(InspectText).focus()

    def action_toggle_view(self) -> None:
        sel = self.query_one("#ins-view", Select)
        sel.value = "unit" if sel.value == "bits" else "bits"

    def action_focus_unit(self) -> None:
        self.query_one("#ins-unit", Input).focus()

    def action_focus_text(self) -> None:
        self.query_one(InspectText).focus()

    def action_leave(self) -> None:
        self.app.pop_screen()

    def action_discover(self) -> None:
        if self.inspection is None:
            self.notify("Wait for the scoring to finish.", severity="warning")
            return
        lst = self.query_one("#ins-discovery", OptionList)
        lst.clear_options()
        lst.add_option(Option("discovering: every unit against every feature...", disabled=True))
        lst.display = True
        self._discover(self._token, self.inspection)

    @work(thread=True, exclusive=True, group="discover", exit_on_error=False)
    def _discover(self, token: int, ins) -> None:
        from charlm_tui.core.analysis.discovery import discover

        try:
            self.post_message(Discovered(token, discover(ins.scored)))
        except Exception as e:
            self.post_message(Discovered(token, None, f"{type(e).__name__}: {e}"))

    def on_discovered(self, msg: Discovered) -> None:
        if msg.token != self._token:
            return
        from charlm_tui.core.analysis.discovery import TRACKS

        lst = self.query_one("#ins-discovery", OptionList)
        lst.clear_options()
        if msg.discovery is None:
            lst.add_option(Option(f"discovery failed: {msg.error}", disabled=True))
            return
        d = self.discovery = msg.discovery
        kind = "cell" if self.inspection.scored.cell == "lstm" else "unit"
        for m in d.found:
            lst.add_option(Option(f"{m.describe(kind)}  (Enter: open it)", id=f"{m.feature}|{m.unit}"))
        for m in d.untracked:
            lst.add_option(
                Option(
                    f"nothing tracks {m.feature!r} (best: {kind} {m.unit}, r = {m.r:+.2f} < {TRACKS})", disabled=True
                )
            )
        for name in d.absent:
            lst.add_option(Option(f"the text has no variation in {name!r}", disabled=True))
        if d.found:
            lst.highlighted = 0
        lst.focus()

    @on(OptionList.OptionSelected, "#ins-discovery")
    def _open_unit(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.query_one("#ins-unit", Input).value = event.option.id.rpartition("|")[2]
            self.query_one("#ins-view", Select).value = "unit"
            self._apply_view()
            self.query_one(InspectText).focus()


def _legend() -> Text:
    from charlm_tui.core.analysis.page import BANDS

    t = Text("bits paid: ")
    labels = ("<0.5", "0.5-1.5", "1.5-3", "3-6 (underlined)", "6+ (reversed)")
    for (_hi, colour, mark), label in zip(BANDS, labels, strict=True):
        style = f"black on {colour}" if colour else ""
        if os.environ.get("NO_COLOR"):
            style = mark
        t.append(f" {label} ", style=style)
        t.append(" ")
    return t
