"""The corpus the user picked: its spec, the loaded Corpus, the ones loaded before (switching back
is instant), the worker that loads one, and adding one to the user's corpora."""

from __future__ import annotations

from typing import TYPE_CHECKING

from charlm_tui.core.config import DEFAULT_CORPUS
from charlm_tui.core.errors import CharLMError
from charlm_tui.tui.controllers.base import Controller
from charlm_tui.tui.messages import (
    CorpusAdded,
    CorpusFailed,
    CorpusLoaded,
    CorpusLoading,
    CorpusProgress,
    CorpusReferencesReady,
    CorpusShown,
)

if TYPE_CHECKING:
    from charlm_tui.core.data.catalog import CatalogEntry
    from charlm_tui.core.data.corpus import Corpus
    from charlm_tui.tui.app import CharLMApp


class CorpusPicker(Controller):
    def __init__(self, app: CharLMApp, spec: str | None = None):
        super().__init__(app)
        self.spec: str = spec or DEFAULT_CORPUS
        self.corpus: Corpus | None = None  # the picked corpus once loaded
        self._cache: dict[str, Corpus] = {}
        self._references: dict[tuple[str, float], object] = {}  # (sha256, val fraction) -> References
        self._fetching: set[tuple[str, float]] = set()

    def references(self, corpus: Corpus | None = None):
        """The reference figures of ``corpus`` (the picked one) on the configured split, or None
        while a worker computes them (the Corpus screen is shown the corpus again when they are
        ready)."""
        corpus = corpus or self.corpus
        if corpus is None:
            return None
        key = (corpus.sha256, self.app.training.config.val_fraction)
        if key in self._references:
            return self._references[key]
        if key not in self._fetching:
            self._fetching.add(key)
            self.app.run_worker(
                lambda: self._fetch_references(corpus, key[1]), thread=True, group="references", exit_on_error=False
            )
        return None

    def references_pending(self, corpus: Corpus) -> bool:
        """Whether a worker is still computing ``corpus``'s reference figures."""
        return (corpus.sha256, self.app.training.config.val_fraction) not in self._references

    def _fetch_references(self, corpus: Corpus, val_fraction: float) -> None:  # in a worker thread
        from charlm_tui.core.data.references import references_for

        try:
            ref, error = references_for(corpus, val_fraction, self.app.home), None
        except Exception as e:  # a figure that cannot be had must not take the screen down
            ref, error = None, f"{type(e).__name__}: {e}"
        self.app.post_message(CorpusReferencesReady(corpus.sha256, val_fraction, ref, error))

    def on_references(self, msg: CorpusReferencesReady) -> None:
        key = (msg.sha256, msg.val_fraction)
        self._fetching.discard(key)
        self._references[key] = msg.references
        if msg.error:
            self.app.notify(f"reference figures: {msg.error}", severity="warning")
        if self.corpus is not None and self.corpus.sha256 == msg.sha256:
            self.tell("corpus", CorpusShown(self.corpus))

    def entries(self) -> list[CatalogEntry]:
        """The catalog, then corpora that earlier runs used and the catalog does not list (paths, URLs)."""
        from charlm_tui.core.data.catalog import CatalogEntry, list_catalog  # imported after the first paint
        from charlm_tui.core.store.run_store import recent_corpus_specs

        try:
            entries = list_catalog(self.app.home)
        except CharLMError as e:
            self.app.notify(str(e), severity="error")
            return []
        known = {e.name for e in entries}
        for spec in recent_corpus_specs(self.app.home):
            if spec not in known:
                known.add(spec)
                entries.append(CatalogEntry(spec, "recent", "used by an earlier run", spec, lambda: []))
        return entries

    def select(self, spec: str) -> None:
        self.spec = spec
        cached = self._cache.get(spec)
        if cached is not None:
            self.corpus = cached
            self.tell("corpus", CorpusShown(cached))
            return
        self.corpus = None
        self.tell("corpus", CorpusLoading(spec))
        self.app.run_worker(lambda: self._load(spec), thread=True, exclusive=True, group="corpus", exit_on_error=False)

    def _load(self, spec: str) -> None:  # in a worker thread
        from charlm_tui.core.data.catalog import resolve

        last = [0.0]

        def progress(phase: str, fraction: float) -> None:
            now = self.app.clock()
            if now - last[0] > 0.2:
                last[0] = now
                self.app.post_message(CorpusProgress(spec, phase, fraction))

        try:
            corpus = resolve(spec, self.app.home, progress=progress)
            self.app.post_message(CorpusLoaded(spec, corpus))
        except CharLMError as e:
            self.app.post_message(CorpusLoaded(spec, None, str(e)))
        except Exception as e:  # an unexpected failure must still reach the user
            self.app.post_message(CorpusLoaded(spec, None, f"{type(e).__name__}: {e}"))

    def on_progress(self, msg: CorpusProgress) -> None:
        if msg.spec == self.spec and self.corpus is None:
            self.tell("corpus", CorpusLoading(msg.spec, f"{msg.phase} {100 * msg.fraction:.0f}%"))

    def on_loaded(self, msg: CorpusLoaded) -> None:
        if msg.corpus is not None:
            self._cache[msg.spec] = msg.corpus
        if msg.spec != self.spec:
            return
        if msg.corpus is None:
            self.tell("corpus", CorpusFailed(msg.spec, msg.error or "unusable"))
            self.app.notify(msg.error or "unusable", severity="error", title="Corpus unusable")
            return
        self.corpus = msg.corpus
        self.tell("corpus", CorpusShown(msg.corpus))
        if msg.corpus.stats.rare_warning:
            self.app.notify(msg.corpus.stats.rare_warning, severity="warning")

    def add(self, spec: str) -> None:
        """Copy a file or folder, or download a URL, into the user's corpora (in a worker)."""
        self.app.run_worker(
            lambda: self._add(spec), thread=True, exclusive=True, group="corpus-add", exit_on_error=False
        )

    def _add(self, spec: str) -> None:  # in a worker thread
        from charlm_tui.core.data.catalog import add_to_user_dir

        self.app.call_from_thread(self.app.notify, f"Adding {spec}…")
        try:
            dest = add_to_user_dir(spec, self.app.home, free_name=True)
        except (CharLMError, OSError) as e:
            msg = (
                str(e)
                if isinstance(e, CharLMError)
                else f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
            )
            self.app.call_from_thread(self.app.notify, msg, severity="error", title="Could not add corpus")
            return
        self.app.call_from_thread(self._added, dest.stem)

    def _added(self, name: str) -> None:
        self.app.notify(f"Added corpus {name!r}")
        self.spec = name
        self.tell("corpus", CorpusAdded(name))
