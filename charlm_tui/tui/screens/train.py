"""Live training: charts of train/val loss and val perplexity, progress with ETA, speed, LR,
best so far, patience, an event log, and a side pane for samples taken while training runs."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, ProgressBar, Static

from charlm_tui import formatting
from charlm_tui.tui.controllers.training import LiveRun
from charlm_tui.tui.messages import ChartsDue, LiveRunChanged, SampleChanged
from charlm_tui.tui.screens.base import AppScreen
from charlm_tui.tui.widgets.event_log import EventLog
from charlm_tui.tui.widgets.metrics_chart import MetricsChart, reference_lines


class TrainScreen(AppScreen):
    HELP = "live loss / perplexity charts, progress, ETA, LR, early stopping"

    BINDINGS = [
        Binding("space", "toggle_pause", "Pause", tooltip="pause/resume"),
        Binding("s", "stop", "Stop (saves)", tooltip="stop (saves)"),
        Binding("n", "sample_now", "Sample", tooltip="sample now from the best weights"),
    ]

    _drawn: LiveRun | None = None  # the LiveRun drawn last, and how much of its log
    _log_drawn = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("No training yet: pick a corpus (1), configure (2), then start.", id="train-title")
        with Horizontal(id="train-progress-row"):
            yield ProgressBar(total=100, show_eta=False, id="train-progress")
            yield Static("", id="train-eta")
        yield Static("", id="train-stats")
        with Horizontal(id="train-main"):
            with Vertical(id="train-charts"):
                yield MetricsChart("loss (nats/char)", "loss", id="chart-loss")
                yield MetricsChart("validation perplexity", "ppl", id="chart-ppl")
            with Vertical(id="train-side"):
                yield Static("Sample (n)", classes="pane-title")
                yield Static("", id="train-sample", markup=False)
                yield Static("Events", classes="pane-title")
                yield EventLog(id="train-log", max_lines=500)
        yield Footer(compact=True, show_command_palette=False)  # ctrl+p still opens it; ? says so

    def on_mount(self) -> None:
        self.redraw()

    def on_screen_resume(self) -> None:
        self.redraw()

    # ------------------------------------------------------------- told by the training controller
    def on_live_run_changed(self, msg: LiveRunChanged) -> None:
        st = self.app.training.live
        if msg.full or st is not self._drawn:
            self.redraw()  # the title, the charts, and the log that already holds the new lines
            return
        if st.last is not None:
            self.show_progress(st.last)  # the charts: the controller redraws them, at most every CHART_REDRAW_S
        if len(st.log) > self._log_drawn:
            self.query_one("#train-log", EventLog).write_lines(st.log[self._log_drawn :])
            self._log_drawn = len(st.log)

    def on_charts_due(self, msg: ChartsDue) -> None:
        self.update_charts()

    def on_sample_changed(self, msg: SampleChanged) -> None:
        self.query_one("#train-sample", Static).update(formatting.printable(msg.text, tab_size=8))

    def redraw(self) -> None:
        """Rebuild everything from the controller's LiveRun."""
        if not self.is_mounted:
            return
        st = self.app.training.live
        self._drawn, self._log_drawn = st, len(st.log)
        if st.run_id or st.title:  # a run, or one starting (st.title says what it is doing)
            self.query_one("#train-title", Static).update(Text(st.title or st.run_id or "", style="bold"))
        if st.last is not None:
            self.show_progress(st.last)
        self.update_charts()
        log = self.query_one("#train-log", EventLog)
        if log.events != st.log[-log.max_lines :]:
            log.clear()
            log.write_lines(st.log[-log.max_lines :])
        self.query_one("#train-sample", Static).update(formatting.printable(st.sample, tab_size=8))

    def update_charts(self) -> None:
        st = self.app.training.live
        loss = self.query_one("#chart-loss", MetricsChart)
        loss.set_references(reference_lines(self.app.runs.references(st.run_id)))
        loss.set_series({"train": (st.train_x, st.train_y), "val": (st.val_x, st.val_nll)})
        self.query_one("#chart-ppl", MetricsChart).set_series({"val ppl": (st.val_x, st.val_ppl)})

    def show_progress(self, ev) -> None:
        st = self.app.training.live
        bar = self.query_one("#train-progress", ProgressBar)
        eta = f"ETA {formatting.duration(ev.eta)}" if ev.eta is not None else ""
        if ev.budget is not None:  # the furthest of the step, epoch and time limits: where the run ends
            bar.update(total=100, progress=100 * ev.budget)
        else:  # a run followed from its metrics file: steps only
            bar.update(total=ev.total_steps or None, progress=ev.step)
        if ev.time_budget:
            where = f" step {ev.step:,}  {formatting.duration(ev.elapsed)} of {formatting.duration(ev.time_budget)}"
        else:
            where = f" step {ev.step:,}/{ev.total_steps or '?':,}"
        # layout=False: these have fixed sizes, and a layout pass repaints every scrollbar on the screen
        self.query_one("#train-eta", Static).update(f"{where}  {eta}", layout=False)
        lr = f"{ev.lr:.2e}" if ev.lr is not None else "-"
        if st.lr_cuts:
            lr += f" (cut at {st.lr_cuts[-1]:,})"
        speed = f"{st.chars_per_s / 1000:.1f}k" if st.chars_per_s else "-"
        # elapsed is in the row above when the run has a time limit; the line fits 80 columns
        elapsed = "" if ev.time_budget else f"  elapsed {formatting.duration(ev.elapsed)}"
        t = Text()
        t.append(f"{st.state:<9}", style="bold reverse" if st.state in ("paused", "failed") else "bold")
        prec = f"  {st.precision}" if st.precision else ""
        t.append(f" epoch {ev.epoch:.2f}  {speed} chars/s{prec}  lr {lr}{elapsed}\n")
        t.append(
            f"best val ppl {formatting.number(ev.best_val_ppl, '.3f')}  bpc {formatting.number(ev.best_val_bpc, '.3f')}  "
            f"last val ppl {formatting.number(st.val_ppl[-1] if st.val_ppl else None, '.3f')}  "
            f"patience left {ev.patience_left if ev.patience_left is not None else '-'}"
        )
        self.query_one("#train-stats", Static).update(t, layout=False)

    # ------------------------------------------------------------- actions
    def action_toggle_pause(self) -> None:
        self.app.training.toggle_pause()

    def action_stop(self) -> None:
        self.app.training.stop()

    def action_sample_now(self) -> None:
        self.app.training.sample_now()
