"""What a good loss is, for this corpus: reference figures in validation bits per character, on the
same train/validation split the trainer uses, that a trained model can be held against.

- ``uniform``: a guess over the whole vocabulary (<unk> included): log2(V).
- ``unigram``: character frequencies of the training split, add-one smoothed over the vocabulary.
- ``5-gram``: an interpolated Kneser-Ney character model of order 5 (Chen & Goodman's interpolated
  KN with one discount per order, D = n1 / (n1 + 2 n2)), fitted on the training split. Vectorised:
  each n-gram is one int64 key (ids in base V), counted with ``np.unique`` and looked up with
  ``np.searchsorted``; no Python loop per character. The order drops below 5 only when V**order
  would not fit in an int64 (more than 6,208 distinct characters).
- ``xz``: what a general-purpose compressor needs for the validation text once it has seen the
  training text: (len(xz(train + val)) - len(xz(train))) * 8 bits / validation characters (UTF-8,
  ``lzma`` at preset 6, the ``xz`` default).

They are cheap (python-docs, 465k characters: well under a second, see ``tests``/README) and cached
per corpus content (sha256) and validation fraction in ``<data dir>/cache/references``.
"""

from __future__ import annotations

import json
import lzma
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from charlm_tui.core.atomic import write_json
from charlm_tui.core.bounded_read import read_text_bounded
from charlm_tui.core.data.corpus import Corpus, val_split_size

VERSION = 1  # bump when a figure's definition changes: old cache entries are then recomputed
NGRAM_ORDER = 5
XZ_PRESET = 6


@dataclass(frozen=True)
class References:
    uniform: float  # bits/char on the validation split
    unigram: float
    ngram: float
    xz: float
    ngram_order: int
    val_chars: int
    seconds: float = 0.0  # how long computing them took (not counting a cache hit)

    def lines(self) -> list[tuple[str, float]]:
        """(label, bits/char), simplest model first."""
        return [
            ("uniform", self.uniform),
            ("unigram", self.unigram),
            (f"{self.ngram_order}-gram", self.ngram),
            ("xz", self.xz),
        ]

    def verdict(self, bpc: float) -> str:
        """How a model's validation bits/char compares: 'beats the 5-gram by 0.41 bits/char; 0.09
        bits/char short of xz'."""
        parts = []
        for label, ref in ((f"the {self.ngram_order}-gram", self.ngram), ("xz", self.xz)):
            d = ref - bpc
            parts.append(f"beats {label} by {d:.2f} bits/char" if d >= 0 else f"{-d:.2f} bits/char short of {label}")
        return "; ".join(parts)


def unigram_bpc(train: np.ndarray, val: np.ndarray, vocab_size: int) -> float:
    counts = np.bincount(train, minlength=vocab_size).astype(np.float64) + 1.0  # add-one
    logp = np.log2(counts / counts.sum())
    return float(-logp[val].mean())


def _keys(seq: np.ndarray, k: int, V: int) -> np.ndarray:
    """The k-gram starting at each position of ``seq`` as one int64 (ids in base V, last digit
    least significant)."""
    n = len(seq) - k + 1
    out = np.zeros(max(n, 0), dtype=np.int64)
    for j in range(k):
        out = out * V + seq[j : j + n]
    return out


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[i] where sorted_keys[i] == query, else 0."""
    if len(sorted_keys) == 0:
        return np.zeros(len(query), dtype=values.dtype)
    i = np.searchsorted(sorted_keys, query)
    i = np.minimum(i, len(sorted_keys) - 1)
    return np.where(sorted_keys[i] == query, values[i], 0)


def _discount(counts: np.ndarray) -> float:
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    return n1 / (n1 + 2 * n2) if n1 and n2 else 0.5


def max_order(vocab_size: int, order: int = NGRAM_ORDER) -> int:
    while order > 1 and vocab_size**order >= 2**62:
        order -= 1
    return order


def kneser_ney_bpc(train: np.ndarray, val: np.ndarray, vocab_size: int, order: int = NGRAM_ORDER) -> float:
    """Validation bits/char of an interpolated Kneser-Ney model of ``order`` fitted on ``train``.
    Each validation character is predicted from the characters before it (the end of the training
    text supplies the context of the first ones)."""
    V = vocab_size
    order = max_order(V, order)
    train = np.asarray(train, dtype=np.int64)
    val = np.asarray(val, dtype=np.int64)
    ctx = min(order - 1, len(train))
    seq = np.concatenate([train[len(train) - ctx :], val])  # the sequence the queries come from
    w = val  # the character each query predicts
    p = np.full(len(val), 1.0 / V)  # order 0: uniform
    # per order k: the k-grams' counts (raw at the top order, continuation counts below it)
    uniq = {k: np.unique(_keys(train, k, V), return_counts=True) for k in range(1, order + 1)}
    for k in range(1, order + 1):
        keys, raw = uniq[k]
        if k == order:
            counts = raw
        else:  # N1+(. w): how many distinct characters precede this k-gram
            up, _ = uniq[k + 1]
            suffix, cont = np.unique(up % V**k, return_counts=True)
            counts = _lookup(suffix, cont, keys)
            keep = counts > 0  # a k-gram only at the very start of the text has no left context
            keys, counts = keys[keep], counts[keep]
        D = _discount(counts)
        prefix = keys // V  # the context (k - 1 characters), sorted since keys are
        ctx_keys, starts, n_follow = np.unique(prefix, return_index=True, return_counts=True)
        ctx_total = np.add.reduceat(counts, starts) if len(counts) else counts
        # the queries: each validation position's k-gram and its context
        qk = _keys(seq, k, V)[len(seq) - k + 1 - len(val) :] if k > 1 else w
        qctx = qk // V
        c_hw = _lookup(keys, counts, qk).astype(np.float64)
        c_h = _lookup(ctx_keys, ctx_total, qctx).astype(np.float64)
        n_h = _lookup(ctx_keys, n_follow, qctx).astype(np.float64)
        seen = c_h > 0
        safe = np.where(seen, c_h, 1.0)
        p = np.where(seen, np.maximum(c_hw - D, 0.0) / safe + D * n_h / safe * p, p)
    return float(-np.log2(p).mean())


def xz_bpc(train_text: str, val_text: str, preset: int = XZ_PRESET) -> float:
    a = len(lzma.compress(train_text.encode("utf-8"), preset=preset))
    b = len(lzma.compress((train_text + val_text).encode("utf-8"), preset=preset))
    return (b - a) * 8 / max(1, len(val_text))


def compute(ids: np.ndarray, chars: list[str], val_fraction: float) -> References:
    """The references of a corpus given as ids (id 0 = <unk>, ids 1.. = ``chars``)."""
    import time

    t0 = time.perf_counter()
    V = len(chars) + 1
    ids = np.asarray(ids, dtype=np.int64)
    n_val = val_split_size(len(ids), val_fraction)
    train, val = ids[: len(ids) - n_val], ids[len(ids) - n_val :]
    table = np.array(["\ufffd", *chars], dtype=object)
    train_text, val_text = "".join(table[train]), "".join(table[val])
    order = max_order(V)
    return References(
        uniform=math.log2(V),
        unigram=unigram_bpc(train, val, V),
        ngram=kneser_ney_bpc(train, val, V, order),
        xz=xz_bpc(train_text, val_text),
        ngram_order=order,
        val_chars=int(n_val),
        seconds=time.perf_counter() - t0,
    )


def cache_path(home: Path, sha256: str, val_fraction: float) -> Path:
    return Path(home) / "cache" / "references" / f"{sha256[:32]}-{val_fraction:g}.json"


def cached(home: Path, sha256: str, val_fraction: float) -> References | None:
    """The cached references of the corpus with this content, or None (a damaged, hand-edited or
    other-version entry counts as none)."""
    try:
        data = json.loads(read_text_bounded(cache_path(home, sha256, val_fraction), 1 << 20))
        if not isinstance(data, dict) or data.get("version") != VERSION or data.get("sha256") != sha256:
            return None
        ref = References(**{k: data[k] for k in References.__dataclass_fields__})
    except (OSError, ValueError, TypeError, KeyError):
        return None
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in asdict(ref).values())
    return ref if ok else None


def references_for(corpus: Corpus, val_fraction: float, home: Path | None) -> References:
    """The corpus's references, from the cache when it holds them (else computed and cached)."""
    path = cache_path(home, corpus.sha256, val_fraction) if home is not None else None
    if home is not None:
        hit = cached(home, corpus.sha256, val_fraction)
        if hit is not None:
            return hit
    ref = compute(corpus.ids_np, corpus.vocab.chars, val_fraction)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, {"version": VERSION, "sha256": corpus.sha256, "val_fraction": val_fraction, **asdict(ref)})
        except OSError:
            pass  # a read-only data dir: computed again next time, nothing breaks
    return ref
