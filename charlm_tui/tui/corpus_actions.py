"""The app's corpus actions: list the catalog, load a corpus in a worker, add one."""

from __future__ import annotations

from textual import work

from charlm_tui.core.errors import CharLMError
from charlm_tui.tui.messages import CorpusLoaded, CorpusProgress


class CorpusActions:
    """Mixed into CharLMApp; state lives on the app (corpus_spec, corpus, _corpus_cache)."""

    def catalog_entries(self):
        """The catalog, then corpora that earlier runs used and the catalog does not list (paths, URLs)."""
        from charlm_tui.core.data.catalog import CatalogEntry, list_catalog  # imported after the first paint
        from charlm_tui.core.store.run_store import recent_corpus_specs

        try:
            entries = list_catalog(self.home)
        except CharLMError as e:
            self.notify(str(e), severity="error")
            return []
        known = {e.name for e in entries}
        for spec in recent_corpus_specs(self.home):
            if spec not in known:
                known.add(spec)
                entries.append(CatalogEntry(spec, "recent", "used by an earlier run", spec, lambda: []))
        return entries

    def select_corpus(self, spec: str) -> None:
        self.corpus_spec = spec
        cached = self._corpus_cache.get(spec)
        if cached is not None:
            self.corpus = cached
            self._corpus_screen_call("show_corpus", cached)
            return
        self.corpus = None
        self._corpus_screen_call("show_loading", spec)
        self._load_corpus(spec)

    @work(thread=True, exclusive=True, group="corpus", exit_on_error=False)
    def _load_corpus(self, spec: str) -> None:
        from charlm_tui.core.data.catalog import resolve

        last = [0.0]

        def progress(phase: str, fraction: float) -> None:
            now = self.clock()
            if now - last[0] > 0.2:
                last[0] = now
                self.post_message(CorpusProgress(spec, phase, fraction))

        try:
            corpus = resolve(spec, self.home, progress=progress)
            self.post_message(CorpusLoaded(spec, corpus))
        except CharLMError as e:
            self.post_message(CorpusLoaded(spec, None, str(e)))
        except Exception as e:  # an unexpected failure must still reach the user
            self.post_message(CorpusLoaded(spec, None, f"{type(e).__name__}: {e}"))

    def on_corpus_progress(self, msg: CorpusProgress) -> None:
        if msg.spec == self.corpus_spec and self.corpus is None:
            self._corpus_screen_call("show_loading", msg.spec, f"{msg.phase} {100 * msg.fraction:.0f}%")

    def on_corpus_loaded(self, msg: CorpusLoaded) -> None:
        if msg.corpus is not None:
            self._corpus_cache[msg.spec] = msg.corpus
        if msg.spec != self.corpus_spec:
            return
        if msg.corpus is None:
            self._corpus_screen_call("show_error", msg.spec, msg.error)
            self.notify(msg.error, severity="error", title="Corpus unusable")
            return
        self.corpus = msg.corpus
        self._corpus_screen_call("show_corpus", msg.corpus)
        if msg.corpus.stats.rare_warning:
            self.notify(msg.corpus.stats.rare_warning, severity="warning")

    def _corpus_screen_call(self, method: str, *args) -> None:
        screen = self.get_screen("corpus")
        if screen.is_mounted:
            getattr(screen, method)(*args)

    @work(thread=True, exclusive=True, group="corpus-add", exit_on_error=False)
    def add_corpus(self, spec: str) -> None:
        from charlm_tui.core.data.catalog import add_to_user_dir

        self.call_from_thread(self.notify, f"Adding {spec}…")
        try:
            dest = add_to_user_dir(spec, self.home, free_name=True)
        except (CharLMError, OSError) as e:
            msg = (
                str(e)
                if isinstance(e, CharLMError)
                else f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
            )
            self.call_from_thread(self.notify, msg, severity="error", title="Could not add corpus")
            return
        self.call_from_thread(self._added, dest.stem)

    def _added(self, name: str) -> None:
        self.notify(f"Added corpus {name!r}")
        self.corpus_spec = name
        self._corpus_screen_call("corpus_added")
        self._corpus_screen_call("action_refresh")
