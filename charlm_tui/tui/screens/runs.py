"""Every run in the data dir: open in Generate, resume, curves, rename, delete."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Footer, Header, Static

from charlm_tui import formatting
from charlm_tui.core.errors import CharLMError
from charlm_tui.tui.messages import ReferencesChanged
from charlm_tui.tui.screens.base import AppScreen
from charlm_tui.tui.screens.dialogs import AskScreen, ConfirmScreen
from charlm_tui.tui.widgets.metrics_chart import MARKERS, MetricsChart, reference_lines

REFRESH_S = 2.0  # the table follows runs that other processes train


class RunsScreen(AppScreen):
    HELP = "every run in the data dir: generate, resume, curves, compare, rename, delete"

    BINDINGS = [
        Binding("enter", "generate", "Generate", tooltip="open in Generate"),
        Binding("space", "mark", "Mark", tooltip="mark to compare (2-4 runs)"),
        Binding("r", "resume", "Resume", tooltip="resume"),
        Binding("f", "fine_tune", "Fine-tune", tooltip="fine-tune on the corpus picked in Corpus"),
        Binding("w", "watch", "Watch", tooltip="watch live (also runs of other processes)"),
        Binding("i", "inspect", "Inspect", tooltip="look inside: surprisal per character, cells, discovery"),
        Binding("d", "delete", "Delete", tooltip="delete"),
        Binding("e", "rename", "Rename", show=False, tooltip="rename"),  # in the help: the footer fits 80 columns
        Binding(
            "ctrl+r", "refresh", "Refresh", show=False, tooltip="refresh"
        ),  # it refreshes by itself every REFRESH_S
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="runs-main"):
            yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="runs-detail", markup=False)
            yield MetricsChart("curves of the selected run", "nats/char", id="runs-chart")
        yield Footer(compact=True, show_command_palette=False)  # ctrl+p still opens it; ? says so

    _marked: list[str]  # run ids marked for comparison, in the order they were marked

    WIDE = 100  # from this width the table has the steps and corpus columns (else the line below says them)
    _wide: bool | None = None

    def on_mount(self) -> None:
        self._marked = []
        self._set_columns()
        self.action_refresh()
        # (not "_auto_refresh": Textual's DOMNode has an attribute of that name, and the timer got None)
        self.set_interval(REFRESH_S, self._refresh_tick)

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def _refresh_tick(self) -> None:
        if self.app.screen is self:
            self.action_refresh()

    def _set_columns(self) -> bool:
        """The table's columns for this width; True if they changed (the rows are then re-added).
        What tells runs apart first; the corpus last (a run's id starts with it unless renamed). At
        80 columns the steps and corpus columns were cut off: narrower than WIDE they are left to
        the line below the table."""
        wide = (self.size.width or self.app.size.width) >= self.WIDE
        if wide == self._wide:
            return False
        self._wide = wide
        t = self.query_one(DataTable)
        t.clear(columns=True)
        t.add_column(" ", key="mark")  # "*": marked for comparison
        t.add_columns("run", "status", "val ppl", *(("steps",) if wide else ()), "model", "updated")
        if wide:
            t.add_column("corpus")
        return True

    def on_resize(self) -> None:
        if self.is_mounted and self._set_columns():
            self._infos: dict = {}  # every row again, in the new columns
            self.action_refresh()

    def _row(self, i) -> tuple:
        # Text, not str: the table reads a str cell as markup, and the corpus name, the status and
        # the times come from files anyone may have edited ("[/]" in a corpus name closed the app)
        updated = i.updated[5:16].replace("T", " ")  # "12-06 17:18": the year is rarely news
        cells = ["*" if i.id in self._marked else " ", i.id, i.status, formatting.number(i.best_val_ppl, ".3f")]
        cells += (
            [f"{i.steps:,}", f"{i.cell} {i.size}", updated, i.corpus] if self._wide else [f"{i.cell} {i.size}", updated]
        )
        return tuple(Text(formatting.printable(str(c)), end="") for c in cells)

    def action_refresh(self) -> None:
        """Re-read the runs. The same runs in the same order: only the cells that changed are
        updated (this runs every REFRESH_S, and a rebuilt table is redrawn whole)."""
        t = self.query_one(DataTable)
        keep = self.selected_id()
        infos = self.app.runs.infos()
        first = not hasattr(self, "_infos")
        old = getattr(self, "_infos", {})
        self._infos = {i.id: i for i in infos}
        self._marked = [rid for rid in self._marked if rid in self._infos]
        same_runs = list(old) == list(self._infos) and t.row_count == len(infos)
        if not first and same_runs and all(i == old[i.id] for i in infos):
            return  # nothing changed: no redraw, and the selected run's metrics are not read again
        if same_runs:
            for i in infos:
                if i != old[i.id]:
                    for col, (before, now) in enumerate(zip(self._row(old[i.id]), self._row(i))):
                        if before != now:
                            t.update_cell_at(Coordinate(t.get_row_index(i.id), col), now, update_width=True)
        else:
            t.clear()
            for i in infos:
                t.add_row(*self._row(i), key=i.id)
            if keep is not None and keep in self._infos:
                t.move_cursor(row=t.get_row_index(keep))
        if not infos:
            self.query_one("#runs-detail", Static).update(
                f"No runs yet in {self.app.home}. Pick a corpus (1) and train (2)."
            )
            self.query_one(MetricsChart).set_series({})
        else:
            self._show(self.selected_id())

    def selected_id(self) -> str | None:
        t = self.query_one(DataTable)
        if t.row_count == 0:
            return None
        try:
            return t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value
        except Exception:
            return None

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(event.row_key.value if event.row_key else None)

    def action_mark(self) -> None:
        from charlm_tui.core.store.compare import MAX_COMPARED

        rid = self.selected_id()
        if not rid:
            return
        if rid in self._marked:
            self._marked.remove(rid)
        elif len(self._marked) >= MAX_COMPARED:
            self.notify(f"Compare up to {MAX_COMPARED} runs at a time: unmark one first (space).", severity="warning")
            return
        else:
            self._marked.append(rid)
        t = self.query_one(DataTable)
        t.update_cell(rid, "mark", "*" if rid in self._marked else " ")
        self._show(rid)

    def _show_comparison(self) -> None:
        from charlm_tui.core.store.compare import compare_runs

        try:
            cmp = compare_runs(self.app.home, self._marked)
        except CharLMError as e:
            self.query_one("#runs-detail", Static).update(f"cannot compare: {e}")
            return
        text = Text(f"{len(cmp.runs)} marked runs, best first (space unmarks):")
        refs = {r.id: self.app.runs.references(r.id) for r in cmp.runs}
        same = {None if v is None else tuple(v.lines()) for v in refs.values()}
        shared = refs[cmp.runs[0].id] if len(same) == 1 else None  # one corpus and split: its lines
        series = {}
        for k, r in enumerate(cmp.runs):
            label = "ABCD"[k]
            series[label] = r.curve
            # two lines a run: its id, then what tells it apart first (the settings in which the runs
            # differ), so a line cut at the edge loses the verdict, never those
            line = f"\n{label} {MARKERS[k]} {r.id}\n   "
            line += "".join(f" {name} {formatting.setting(r.settings[name])}" for name in cmp.differing)
            line += (
                f"  ppl {formatting.number(r.best_val_ppl, '.3f')} = {formatting.number(r.best_val_bpc, '.3f')} bpc at {r.best_minutes:.1f} min"
                if r.best_val_nll is not None
                else "  no eval yet"
            )
            line += f"  {r.steps:,} steps"
            ref = refs[r.id]
            if ref is not None and r.best_val_bpc is not None:
                line += f"  {ref.verdict(r.best_val_bpc)}"
            text.append(line)
        detail = self.query_one("#runs-detail", Static)
        detail.add_class("compare")  # a line per run, cut at the edge rather than wrapped
        detail.update(text)
        chart = self.query_one(MetricsChart)
        chart.set_references(reference_lines(shared))
        chart.set_series(series, "training minutes", "val loss of the marked runs")

    def _show(self, run_id: str | None) -> None:
        if len(self._marked) >= 2:
            self._show_comparison()
            return
        info = getattr(self, "_infos", {}).get(run_id)
        if run_id is None or info is None:
            return
        self.query_one("#runs-detail", Static).remove_class("compare")
        refs = self.app.runs.references(run_id)
        text = f"{info.id}: {info.status_text}; corpus {info.corpus}; {info.steps:,} steps"
        if info.parent:
            text += f"; fine-tuned from {info.parent}"
        if info.best_val_ppl is not None:
            text += f"; best val ppl {formatting.number(info.best_val_ppl, '.3f')} = {formatting.number(info.best_val_bpc, '.3f')} bits/char"
            if refs is not None and info.best_val_bpc is not None:
                text += f"\n{refs.verdict(info.best_val_bpc)}"
        if info.damaged:
            text += f"\ndamaged: {info.damaged}"
        text = formatting.printable(text)  # the corpus name and the damage come from files anyone may edit
        detail = self.query_one("#runs-detail", Static)
        if str(detail.content) != text:
            detail.update(text)
        metrics = self.app.runs.metrics(run_id)
        xs = [m["step"] for m in metrics]
        chart = self.query_one(MetricsChart)
        chart.set_references(reference_lines(refs))
        chart.set_series(
            {"train": (xs, [m.get("train_loss") for m in metrics]), "val": (xs, [m.get("val_nll") for m in metrics])}
        )

    def on_references_changed(self, _msg: ReferencesChanged) -> None:
        self._show(self.selected_id())

    @on(DataTable.RowSelected)
    def _selected(self, _event) -> None:
        self.action_generate()

    def action_generate(self) -> None:
        rid = self.selected_id()
        if rid:
            self.app.generation.settings.run_id = rid
            self.app.switch_mode("generate")

    def action_inspect(self) -> None:
        rid = self.selected_id()
        if rid:
            from charlm_tui.tui.screens.inspect import InspectScreen

            self.app.push_screen(InspectScreen(rid))

    def action_watch(self) -> None:
        rid = self.selected_id()
        if rid:
            self.app.training.attach(rid)

    def action_fine_tune(self) -> None:
        run_id = self.selected_id()
        if run_id is not None:
            self.app.training.fine_tune_from(run_id)

    def action_resume(self) -> None:
        rid = self.selected_id()
        if rid:
            self.app.training.resume(rid)

    def action_delete(self) -> None:
        rid = self.selected_id()
        if not rid:
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.app.runs.delete(rid)
                self.action_refresh()

        self.app.push_screen(ConfirmScreen(f"Delete run {rid} and its checkpoints? This cannot be undone."), done)

    def action_rename(self) -> None:
        rid = self.selected_id()
        if not rid:
            return

        from charlm_tui.core.store.run_store import run_name_problem

        def done(name: str | None) -> None:
            if name and name != rid:
                self.app.runs.rename(rid, name)
                self.action_refresh()

        def check(name: str) -> str | None:
            return None if name == rid else run_name_problem(self.app.home, name)

        self.app.push_screen(AskScreen(f"New name for {rid}:", rid, check), done)
