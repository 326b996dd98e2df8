"""The run library: the runs in the data dir as the screens see them (listed, their metrics,
deleted, renamed), with errors told to the user rather than raised into the UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from charlm_tui.core.errors import CharLMError
from charlm_tui.tui.controllers.base import Controller

if TYPE_CHECKING:
    from charlm_tui.core.store.run_store import RunInfo

# core.store (and catalog, corpus) are imported when first needed, after the first paint


class RunLibrary(Controller):
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
