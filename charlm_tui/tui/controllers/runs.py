"""The run library: the runs in the data dir as the screens see them (listed, their metrics,
deleted, renamed), with errors told to the user rather than raised into the UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from charlm_tui.core.errors import CharLMError
from charlm_tui.tui.controllers.base import Controller
from charlm_tui.tui.messages import ChartsDue, ReferencesChanged, RunReferencesReady

if TYPE_CHECKING:
    from charlm_tui.core.store.run_store import RunInfo
    from charlm_tui.tui.app import CharLMApp

# core.store (and catalog, corpus) are imported when first needed, after the first paint


RETRY_REFERENCES_S = 30.0  # a run whose references could not be had is asked again after this


class RunLibrary(Controller):
    def __init__(self, app: CharLMApp):
        super().__init__(app)
        self._references: dict = {}  # run id -> References
        self._asked: dict[str, float] = {}  # run id -> when its references were last fetched

    def references(self, run_id: str | None):
        """The reference figures of a run's corpus (what a good loss is), or None while they are
        fetched in a worker (the Train and Runs screens are told when they arrive) or if there are
        none to be had."""
        if run_id is None:
            return None
        if run_id in self._references:
            return self._references[run_id]
        asked = self._asked.get(run_id)
        if asked is None or self.app.clock() - asked > RETRY_REFERENCES_S:
            self._asked[run_id] = self.app.clock()
            corpus = self.app.corpora.corpus
            self.app.run_worker(
                lambda: self._fetch(run_id, corpus), thread=True, group="references", exit_on_error=False
            )
        return None

    def _fetch(self, run_id: str, corpus) -> None:  # in a worker thread
        from charlm_tui.core.store.compare import run_references

        self.app.post_message(RunReferencesReady(run_id, run_references(self.app.home, run_id, corpus)))

    def on_references(self, msg: RunReferencesReady) -> None:
        if msg.references is None:
            return
        self._references[msg.run_id] = msg.references
        if self.app.training.live.run_id == msg.run_id:
            self.tell("train", ChartsDue(), only_if_shown=True)
        self.tell("runs", ReferencesChanged(), only_if_shown=True)

    def infos(self) -> list[RunInfo]:
        from charlm_tui.core.store.run_store import list_runs

        try:
            return list_runs(self.app.home)
        except OSError as e:
            self.app.notify(f"cannot read runs: {e}", severity="error")
            return []

    def metrics(self, run_id: str) -> list[dict]:
        from charlm_tui.core.store.run_store import open_run

        try:
            return open_run(self.app.home, run_id).metrics()
        except CharLMError:
            return []

    def delete(self, run_id: str) -> None:
        from charlm_tui.core.store.run_store import delete_run

        try:
            delete_run(self.app.home, run_id)
            self.app.notify(f"Deleted {run_id}")
        except CharLMError as e:
            self.app.notify(str(e), severity="error")

    def rename(self, run_id: str, new: str) -> None:
        from charlm_tui.core.store.run_store import rename_run

        try:
            rename_run(self.app.home, run_id, new)
            settings = self.app.generation.settings
            if settings.run_id == run_id:
                settings.run_id = new
            self.app.notify(f"Renamed to {new}")
        except CharLMError as e:
            self.app.notify(str(e), severity="error")
