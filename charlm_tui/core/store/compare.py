"""Runs side by side: the settings in which they differ, their best validation figures, and their
validation curves against training time (what matters when the budget is minutes, and fair across
batch sizes and BPTT lengths, which make "a step" mean different amounts of work)."""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass
from pathlib import Path

from charlm_tui.core.config import LN2, ModelConfig, perplexity
from charlm_tui.core.errors import CharLMError, RunError
from charlm_tui.core.store.run_store import open_run

MAX_COMPARED = 4  # one chart marker each: colour alone says nothing under NO_COLOR

# (name shown, where it lives in config.json)
SETTINGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("corpus", ("corpus", "name")),
    ("cell", ("model", "cell")),
    ("embed", ("model", "embed_dim")),
    ("hidden", ("model", "hidden_size")),
    ("layers", ("model", "num_layers")),
    ("dropout", ("model", "dropout")),
    ("weight drop", ("model", "weight_drop")),
    ("batch", ("train", "batch_size")),
    ("bptt", ("train", "num_steps")),
    ("lr", ("train", "lr")),
    ("schedule", ("train", "lr_schedule")),
    ("clip", ("train", "clip")),
    ("partition", ("train", "partition")),
    ("seed", ("train", "seed")),
    ("ranks", ("world_size",)),
)


def _setting(config: dict, path: tuple[str, ...]):
    v = config
    for key in path:
        if not isinstance(v, dict) or key not in v:
            return _default(path)
        v = v[key]
    return v


def _default(path: tuple[str, ...]):
    """A model setting missing from an older run's config.json had its default then (weight drop:
    off), so two runs that trained alike compare alike; anything else missing is unknown."""
    if len(path) == 2 and path[0] == "model":
        f = ModelConfig.__dataclass_fields__.get(path[1])
        if f is not None and f.default is not MISSING:
            return f.default
    return None


@dataclass
class ComparedRun:
    id: str
    best_val_nll: float | None
    steps: int  # steps trained so far
    best_minutes: float | None  # training minutes when the best validation was reached
    settings: dict[str, object]
    curve: tuple[list[float], list[float]]  # (training minutes, val NLL) at each evaluation

    @property
    def best_val_ppl(self) -> float | None:
        return None if self.best_val_nll is None else perplexity(self.best_val_nll)

    @property
    def best_val_bpc(self) -> float | None:
        return None if self.best_val_nll is None else self.best_val_nll / LN2


@dataclass
class Comparison:
    runs: list[ComparedRun]  # best validation first; runs not yet evaluated last
    differing: list[str]  # the settings whose values are not the same in every run


def compared_run(home: Path, run_id: str) -> ComparedRun:
    run = open_run(home, run_id)
    config = run.config
    xs, ys, steps = [], [], int(run.status().get("steps") or 0)
    for m in run.metrics():
        steps = max(steps, int(m.get("step") or 0))
        nll, elapsed = m.get("val_nll"), m.get("elapsed")
        if nll is not None and elapsed is not None and math.isfinite(nll):
            xs.append(elapsed / 60.0)
            ys.append(nll)
    best = min(range(len(ys)), key=ys.__getitem__) if ys else -1
    return ComparedRun(
        id=run.id,
        best_val_nll=ys[best] if ys else None,
        steps=steps,
        best_minutes=xs[best] if ys else None,
        settings={name: _setting(config, path) for name, path in SETTINGS},
        curve=(xs, ys),
    )


def compare_runs(home: Path, run_ids: list[str]) -> Comparison:
    if not 2 <= len(run_ids) <= MAX_COMPARED:
        raise RunError(f"compare 2 to {MAX_COMPARED} runs at a time, not {len(run_ids)}")
    runs = [compared_run(home, rid) for rid in run_ids]
    runs.sort(key=lambda r: (r.best_val_nll is None, r.best_val_nll or 0.0))
    differing = [name for name, _ in SETTINGS if len({repr(r.settings[name]) for r in runs}) > 1]
    return Comparison(runs, differing)


def run_references(home: Path, run_id: str, corpus=None):
    """The reference figures (``charlm_tui.core.data.references``) for the corpus and validation
    split a run trained on, or None when they cannot be had (the corpus is gone or has changed
    since, or the run's config is damaged). ``corpus``: one already in memory, used if it is the
    run's. The cache is read first, so a known corpus is not decoded again."""
    from charlm_tui.core.data.catalog import resolve
    from charlm_tui.core.data.references import cached, references_for

    try:
        run = open_run(home, run_id)
        sha = run.config["corpus"]["sha256"]
        val_fraction = run.train_config().val_fraction
        if not isinstance(sha, str):
            return None
        hit = cached(home, sha, val_fraction)
        if hit is not None:
            return hit
        if corpus is None or corpus.sha256 != sha:
            spec, opts = run.corpus_source()
            corpus = resolve(spec, home, opts)
        if corpus.sha256 != sha:
            return None  # the text changed since the run trained on it
        return references_for(corpus, val_fraction, home)
    except (CharLMError, OSError, KeyError, TypeError):
        return None
