"""Inspect a run: load its model and a text (its validation text by default), score it, and keep
what the views, the CLI and the HTML page show (``Inspection``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charlm_tui.core.analysis.scoring import Scored, max_chars, score, streams_for
from charlm_tui.core.data.references import References
from charlm_tui.core.data.vocab import Vocab

MAX_TEXT_BYTES = 64 << 20  # a text file past this is refused (the model keeps at most max_chars of it anyway)


@dataclass
class Inspection:
    run_id: str
    what: str  # "the validation text of python-docs", "notes.txt", ...
    scored: Scored
    vocab: Vocab
    refs: References | None
    total_chars: int  # the text's length before the cap (max_chars) cut it
    streams: int

    @property
    def truncated(self) -> bool:
        return self.total_chars > len(self.scored.text)

    def headline(self) -> str:
        """Mean bits/char and the corpus's references, the line over both views."""
        s = self.scored
        text = f"{self.what}: {len(s.text):,} chars"
        if self.truncated:
            text += f" (the first of {self.total_chars:,})"
        text += f", {s.mean_bits:.3f} bits/char"
        if self.refs is not None:
            text += "; corpus references " + ", ".join(f"{k} {v:.2f}" for k, v in self.refs.lines())
        return text

    def predictions(self, i: int) -> list[tuple[str, float]]:
        """The model's top predictions for character ``i`` (made before reading it)."""
        s = self.scored
        return [
            (self.vocab.itos(int(t)), float(p)) for t, p in zip(s.top_ids[i], s.top_probs[i], strict=True) if t >= 0
        ]


def validation_text(corpus, val_fraction: float) -> str:
    from charlm_tui.core.data.corpus import val_split_size

    n = len(corpus.ids_np)
    ids = corpus.ids_np[n - val_split_size(n, val_fraction) :]
    table = np.array([corpus.vocab.itos(i) for i in range(corpus.vocab.size)], dtype=object)
    return "".join(table[ids.astype(np.int64)])


def inspect_run(
    home: Path,
    run_id: str,
    text: str | None = None,
    what: str | None = None,
    weights: str = "best",
    activations: bool = True,
    on_batch: Callable[[Scored, float], None] | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Inspection:
    """Score ``text`` (None: the run's validation text, laid out as evaluation lays it out, so its
    mean is `charlm-tui eval`'s bits/char) with the run's ``weights``. ``on_text`` hears the text
    before scoring starts (a screen shows it at once); ``on_batch`` each batch's scores."""
    from charlm_tui.core.data.catalog import resolve
    from charlm_tui.core.data.references import references_for
    from charlm_tui.core.store.compare import run_references
    from charlm_tui.core.store.run_store import open_run

    run = open_run(home, run_id)
    model, vocab = run.load_model(weights)
    cfg = run.train_config()
    refs: References | None
    if text is None:
        spec, opts = run.corpus_source()
        corpus = resolve(spec, home, opts)
        text = validation_text(corpus, cfg.val_fraction)
        what = f"the validation text of {corpus.name}"
        streams = cfg.batch_size  # evaluation's layout: the mean is eval's
        refs = references_for(corpus, cfg.val_fraction, home)
    else:
        streams = streams_for(len(text), cfg.batch_size)
        refs = run_references(home, run.id)
    total = len(text)
    text = text[: max_chars(model)]
    if on_text is not None:
        on_text(text)
    scored = score(model, vocab, text, streams, cfg.num_steps, activations, on_batch)
    return Inspection(run.id, what or "the text", scored, vocab, refs, total, streams)
