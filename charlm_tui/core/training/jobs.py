"""Build a training job (corpus -> model -> run folder -> Trainer), new or resumed.

The CLI and the TUI both start training through here, so they train the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from charlm_tui.core.config import REGULARISERS, SHAPE, check_fits_memory
from charlm_tui.core.data.batching import check_fits, split_train_val
from charlm_tui.core.data.catalog import resolve, stored_spec
from charlm_tui.core.data.corpus import Corpus, ProgressFn, TextOptions
from charlm_tui.core.distributed import SINGLE, Dist
from charlm_tui.core.errors import ConfigError, CorpusError, RunError
from charlm_tui.core.lifecycle import FINISHED_REASONS
from charlm_tui.core.model.charlm import CharLM, ModelConfig, resolve_device
from charlm_tui.core.store.metrics_log import require_tensorboard
from charlm_tui.core.store.run import Run
from charlm_tui.core.store.run_sink import RunSink
from charlm_tui.core.store.run_store import create_run, open_run
from charlm_tui.core.training import budget, calibration
from charlm_tui.core.training.budget import Round
from charlm_tui.core.training.finetune import Parent, adopt, check_shape, fine_tuning_corpus, union_vocab
from charlm_tui.core.training.precision import Precision
from charlm_tui.core.training.trainer import EventSink, TrainConfig, Trainer, TrainEvent

FIXED_ON_RESUME = ("num_steps", "partition", "val_fraction", "seed")


@dataclass
class TrainingJob:
    run: Run | None  # None on the ranks > 0 of a data-parallel run: only rank 0 writes the run folder
    trainer: Trainer
    corpus: Corpus
    # (data dir, cache key) when auto measured the precision or read it from the cache: the run's
    # own speed then checks that measurement (calibration.review)
    calibrated: tuple[Path, str] | None = None

    def start(self) -> TrainEvent:
        """Train to the end in this thread; always leaves a final status and releases the lock."""
        try:
            final = self.trainer.run()
        except BaseException as e:
            if self.run is not None:
                self.run.write_status(status="failed", reason="error", message=f"{type(e).__name__}: {e}")
            raise
        finally:
            if self.run is not None:
                self.run.release_lock()
        if self.calibrated is not None:
            t = self.trainer
            calibration.review(*self.calibrated, t.precision, t.session_steps(), t.chars_per_s())
        return final


def _split(corpus: Corpus, cfg: TrainConfig, dist: Dist = SINGLE):
    train, val = split_train_val(corpus.ids, cfg.val_fraction)
    check_fits(len(train), cfg.batch_size * dist.world, cfg.num_steps)
    return train, val


def new_job(
    home: Path,
    corpus_spec: str,
    model_kw: dict,
    cfg: TrainConfig,
    *,
    opts: TextOptions | None = None,
    corpus: Corpus | None = None,
    callback: Callable[[TrainEvent], None] | None = None,
    progress: ProgressFn | None = None,
    run_id: str | None = None,
    dist: Dist = SINGLE,
    parent: Parent | None = None,
    sinks: Sequence[EventSink] = (),
    sizing: dict | None = None,
    precision: Precision | None = None,
) -> TrainingJob:
    """A new run; with ``parent``, one fine-tuned from that run's weights (its shape, the union of
    the vocabularies: see ``core.training.finetune``). Everything is checked before anything is
    written. ``sizing``: how the model was fitted to the budget (core.sizing.Choice.record), kept in
    config.json; ``precision``: the precision that fitting measured for this shape (no second
    calibration)."""
    cfg = cfg.validate()
    if cfg.tensorboard:
        require_tensorboard()  # before anything is written
    device = device_for(cfg, dist)
    corpus = corpus or resolve(corpus_spec, home, opts, progress)
    if parent is not None:
        check_shape(parent, model_kw)
        corpus = fine_tuning_corpus(corpus, union_vocab(parent, corpus))
        shape = {k: getattr(parent.model_config, k) for k in SHAPE}
        model_kw = {**shape, **{k: model_kw.get(k, getattr(parent.model_config, k)) for k in REGULARISERS}}
    train, val = _split(corpus, cfg, dist)
    mcfg = ModelConfig(vocab_size=corpus.vocab.size, **model_kw).validate()
    _check_memory(mcfg, cfg, device)
    if precision is None or cfg.precision != "auto":
        precision = calibration.resolve(cfg.precision, mcfg, cfg.batch_size, cfg.num_steps, device, home)
    prec = _agree(precision, dist, device)
    model = (
        _fresh_model(mcfg, cfg)
        if parent is None
        else adopt(parent, corpus.vocab, {k: getattr(mcfg, k) for k in REGULARISERS})
    )
    lineage = parent.to_json() if parent is not None else None
    run = (
        create_run(
            home, corpus, mcfg, cfg, stored_spec(corpus_spec, home), run_id, dist.world, prec.to_json(), lineage, sizing
        )
        if dist.is_main
        else None
    )
    trainer = Trainer(
        model, train, val, cfg, device, callback=callback, sink=_sink(run), dist=dist, precision=prec,
        sinks=[*sinks, *_loggers(run, cfg)],
    )  # fmt: skip
    return TrainingJob(run, trainer, corpus, _calibrated(home, prec, mcfg, cfg, device, dist))


def _sink(run: Run | None) -> RunSink | None:
    """The run folder as the trainer's sink (None on ranks > 0, which write nothing)."""
    return RunSink(run) if run is not None else None


def _loggers(run: Run | None, cfg: TrainConfig) -> list:
    """The sinks a run's settings ask for besides its folder (only the process that writes it)."""
    if run is None or not cfg.tensorboard:
        return []
    from charlm_tui.core.store.metrics_log import TENSORBOARD_DIR, TensorBoardSink

    return [TensorBoardSink(run.path / TENSORBOARD_DIR)]


def _agree(prec: Precision, dist: Dist, device: torch.device) -> Precision:
    """Under data parallelism every rank trains in the same arithmetic: the low precision only if
    every rank chose it (ranks measure on their own)."""
    if not dist.enabled:
        return prec
    low = torch.tensor([0.0 if prec.used == "fp32" else 1.0], dtype=torch.float64, device=device)
    if dist.all_reduce(low).item() == dist.world:
        return prec
    return replace(prec, used="fp32")


def _calibrated(
    home: Path, prec: Precision, mcfg: ModelConfig, cfg: TrainConfig, device: torch.device, dist: Dist
) -> tuple[Path, str] | None:
    """Where a run's precision may have come from, for calibration.review (which decides by the
    precision's source); None under data parallelism, where the ranks agreed on it."""
    if dist.enabled:
        return None
    return home, calibration.cache_key(mcfg, cfg.batch_size, cfg.num_steps, device)


def _resumed_precision(
    home: Path, run: Run, cfg: TrainConfig, stored: TrainConfig, mcfg: ModelConfig, device: torch.device
) -> Precision:
    """A resumed run keeps the precision it trained in, unless the user asks for another one. A run
    from before precision was recorded trained in fp32."""
    if cfg.precision != stored.precision:
        return calibration.resolve(cfg.precision, mcfg, cfg.batch_size, cfg.num_steps, device, home)
    recorded = Precision.from_json(run.config.get("precision"))
    if recorded is None:
        return Precision(stored.precision, "fp32", source="resumed")
    return replace(recorded, source="resumed")


def _check_memory(mcfg: ModelConfig, cfg: TrainConfig, device: torch.device) -> None:
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        check_fits_memory(mcfg, cfg, total, f"the GPU ({torch.cuda.get_device_name(device)})")
    else:
        check_fits_memory(mcfg, cfg)


def _fresh_model(mcfg: ModelConfig, cfg: TrainConfig) -> CharLM:
    """The model a run starts from: initialised from the run's seed, so a run restarted from step 0
    is the run it would have been."""
    torch.manual_seed(cfg.seed)
    return CharLM.from_config(mcfg)


def device_for(cfg: TrainConfig, dist: Dist = SINGLE) -> torch.device:
    """The device a run with these settings trains on (under torchrun: this rank's GPU)."""
    device = resolve_device(cfg.device)
    if dist.enabled and device.type == "cuda":
        return torch.device("cuda", dist.local_rank)
    return device


def resume_job(
    home: Path,
    run_id: str,
    overrides: dict | None = None,
    *,
    callback: Callable[[TrainEvent], None] | None = None,
    progress: ProgressFn | None = None,
    dist: Dist = SINGLE,
    sinks: Sequence[EventSink] = (),
) -> TrainingJob:
    """Continue a run from its last state; ``overrides`` may raise limits (max_steps, ...)."""
    run = open_run(home, run_id)
    run.check_writable()
    cfg_json = run.config
    stored = run.train_config()
    overrides = dict(overrides or {})
    fixed = [k for k in FIXED_ON_RESUME if k in overrides and overrides[k] != getattr(stored, k)]
    if fixed:
        raise ConfigError(
            f"run {run.id}: {', '.join(fixed)} cannot change when resuming "
            "(the saved data position depends on them); start a new run instead"
        )
    stored_world = cfg_json.get("world_size") or 1  # read_config checked its type
    global_batch = stored.batch_size * stored_world
    if "batch_size" not in overrides and dist.world != stored_world:
        if global_batch % dist.world:
            raise ConfigError(
                f"run {run.id} has a global batch of {global_batch}, which {dist.world} ranks cannot share evenly"
            )
        overrides["batch_size"] = global_batch // dist.world
    if overrides.get("batch_size", stored.batch_size) * dist.world != global_batch:
        raise ConfigError(
            f"run {run.id}: batch_size cannot change when resuming: the global batch (batch size "
            f"x ranks) must stay {global_batch}; start a new run instead"
        )
    cfg = replace(stored, **overrides).validate()
    if cfg.tensorboard:
        require_tensorboard()
    mcfg = run.model_config()
    c = cfg_json["corpus"]
    spec, opts = run.corpus_source()
    corpus = resolve(spec, home, opts, progress)
    if corpus.sha256 != c.get("sha256"):
        raise CorpusError(
            f"the corpus {c.get('spec')!r} changed since run {run.id} started "
            f"(sha256 {corpus.sha256[:12]} vs {str(c.get('sha256'))[:12]}); "
            "start a new run instead"
        )
    corpus = _in_run_vocab(run, corpus)
    # a run killed before its first save has no state yet: it starts again from step 0, as new
    state = run.load_last_state()
    device = device_for(cfg, dist)
    _check_memory(mcfg, cfg, device)
    prec = _agree(_resumed_precision(home, run, cfg, stored, mcfg, device), dist, device)
    if not dist.is_main:  # ranks > 0 read the run, never write it
        train, val = _split(corpus, cfg, dist)
        trainer = Trainer(_fresh_model(mcfg, cfg), train, val, cfg, device, dist=dist, precision=prec)
        if state is not None:
            trainer.restore(*state)
        return TrainingJob(None, trainer, corpus)
    run.acquire_lock()
    run.ignore_pending_control()
    try:
        train, val = _split(corpus, cfg, dist)
        trainer = Trainer(
            _fresh_model(mcfg, cfg), train, val, cfg, device, callback=callback, sink=_sink(run), dist=dist, precision=prec,
            sinks=[*sinks, *_loggers(run, cfg)],
        )  # fmt: skip
        if state is not None:
            trainer.restore(*state)
        run.trim_metrics(trainer.progress.step)  # evaluations after the saved state are done again
        run.update_train_config(cfg, dist.world, prec.to_json())  # later resumes keep the raised limits
    except BaseException:
        run.release_lock()
        raise
    return TrainingJob(run, trainer, corpus, _calibrated(home, prec, mcfg, cfg, device, dist))


def _in_run_vocab(run: Run, corpus: Corpus) -> Corpus:
    """The corpus with its ids in the run's own vocabulary. A fine-tuned run's vocabulary is the
    union of its parent's and its corpus's, so it may hold characters the corpus lacks; every
    character of the corpus must be in it."""
    vocab = run.vocab()
    if corpus.vocab == vocab:
        return corpus
    if run.config.get("parent") is not None:
        missing = set(corpus.vocab.chars) - set(vocab.chars)
        if not missing:
            return fine_tuning_corpus(corpus, vocab)
    raise RunError(f"run {run.id}: its vocab.json does not match the corpus; start a new run")


def another_round(home: Path, run_id: str) -> Round | None:
    """Another round of the size the run was created with, for a run that ended at one of its limits
    (``budget.another_round``); None for a run that did not (it just continues)."""
    run = open_run(home, run_id)
    reason = run.status().get("reason")
    if reason not in FINISHED_REASONS or not run.has_weights("last"):
        return None
    # a round is as big as the run's limits were when it was created (config.json's "train" holds
    # the limits as raised by the last resume)
    first = run.config.get("first_train")
    cfg = TrainConfig.from_json(first) if isinstance(first, dict) else run.train_config()
    p = run.last_progress()
    return budget.another_round(reason, cfg, p.step, p.epoch, p.elapsed, p.bad_evals)
