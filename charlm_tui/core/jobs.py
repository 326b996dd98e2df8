"""Build a training job (corpus -> model -> run folder -> Trainer), new or resumed.

The CLI and the TUI both start training through here, so they train the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from charlm_tui.core.batching import check_fits, split_train_val
from charlm_tui.core.catalog import resolve
from charlm_tui.core.config import check_fits_memory, format_duration
from charlm_tui.core.corpus import Corpus, ProgressFn, TextOptions
from charlm_tui.core.distributed import SINGLE, Dist
from charlm_tui.core.errors import CheckpointError, ConfigError, CorpusError, RunError
from charlm_tui.core.lifecycle import FINISHED_REASONS
from charlm_tui.core.model import CharLM, ModelConfig, resolve_device
from charlm_tui.core.runs import Run, create_run, open_run
from charlm_tui.core.training import TrainConfig, Trainer, TrainEvent

FIXED_ON_RESUME = ("num_steps", "partition", "val_fraction", "seed")


@dataclass
class TrainingJob:
    run: Run | None  # None on the ranks > 0 of a data-parallel run: only rank 0 writes the run folder
    trainer: Trainer
    corpus: Corpus

    def start(self) -> TrainEvent:
        """Train to the end in this thread; always leaves a final status and releases the lock."""
        try:
            return self.trainer.run()
        except BaseException as e:
            if self.run is not None:
                self.run.write_status(status="failed", reason="error", message=f"{type(e).__name__}: {e}")
            raise
        finally:
            if self.run is not None:
                self.run.release_lock()


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
) -> TrainingJob:
    cfg = cfg.validate()
    device = _device(cfg, dist)
    corpus = corpus or resolve(corpus_spec, home, opts, progress)
    train, val = _split(corpus, cfg, dist)
    mcfg = ModelConfig(vocab_size=corpus.vocab.size, **model_kw).validate()
    _check_memory(mcfg, cfg, device)
    model = _fresh_model(mcfg, cfg)
    run = create_run(home, corpus, mcfg, cfg, corpus_spec, run_id, dist.world) if dist.is_main else None
    trainer = Trainer(model, train, val, cfg, device, callback=callback, sink=run, dist=dist)
    return TrainingJob(run, trainer, corpus)


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


def _device(cfg: TrainConfig, dist: Dist):
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
    if corpus.vocab != run.vocab():
        raise RunError(f"run {run.id}: its vocab.json does not match the corpus; start a new run")
    # a run killed before its first save has no state yet: it starts again from step 0, as new
    state = run.load_last_state() if (run.path / "last.safetensors").exists() else None
    if not dist.is_main:  # ranks > 0 read the run, never write it
        train, val = _split(corpus, cfg, dist)
        trainer = Trainer(_fresh_model(mcfg, cfg), train, val, cfg, _device(cfg, dist), dist=dist)
        if state is not None:
            trainer.load_checkpoint_state(*state)
        return TrainingJob(None, trainer, corpus)
    run.acquire_lock()
    run.ignore_pending_control()
    try:
        train, val = _split(corpus, cfg, dist)
        trainer = Trainer(
            _fresh_model(mcfg, cfg), train, val, cfg, _device(cfg, dist), callback=callback, sink=run, dist=dist
        )
        if state is not None:
            trainer.load_checkpoint_state(*state)
        run.trim_metrics(trainer.p.step)  # evaluations after the saved state are done again
        # update the stored config so later resumes keep the raised limits
        from charlm_tui.core.atomic import write_json

        write_json(
            run.path / "config.json",
            {
                **cfg_json,
                "train": cfg.to_json(),
                "world_size": dist.world,
                "first_train": cfg_json.get("first_train") or cfg_json["train"],
            },
        )
    except BaseException:
        run.release_lock()
        raise
    return TrainingJob(run, trainer, corpus)


def _duration(seconds: float) -> str:
    return f"{seconds:.3g}s" if seconds < 60 else format_duration(seconds)


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}" + ("" if n == 1 else "s")


def another_round(home: Path, run_id: str) -> tuple[dict, str | None]:
    """Overrides that give a run which ended at one of its limits another round of the same size,
    and a sentence saying so; ``({}, None)`` for a run that did not (it just continues).

    Limits are totals (a 5-minute run has ``max_seconds`` 300 and, when finished, 300 s behind it),
    so resuming a finished run as it is would stop at once. Another round: the time budget grows by
    its size (the cosine schedule stretches over the longer budget), or the step or epoch limit, or,
    after an early stop, the patience starts again."""
    from charlm_tui.core import checkpoint
    from charlm_tui.core.train_state import Progress

    run = open_run(home, run_id)
    reason = run.status().get("reason")
    if reason not in FINISHED_REASONS or not (run.path / "last.safetensors").is_file():
        return {}, None
    # a round is as big as the run's limits were when it was created (config.json's "train" holds
    # the limits as raised by the last resume)
    first = run.config.get("first_train")
    cfg = TrainConfig.from_json(first) if isinstance(first, dict) else run.train_config()
    try:
        p = Progress.from_json(checkpoint.read_header(run.path / "last.safetensors")["meta"].get("progress"))
    except ValueError as e:
        raise CheckpointError(f"{run.path / 'last.safetensors'}: {e}; the run cannot be resumed") from None
    if reason == "max_seconds" and cfg.max_seconds:
        return (
            {"max_seconds": p.elapsed + cfg.max_seconds},
            f"it had used its time budget; training {_duration(cfg.max_seconds)} more",
        )
    if reason == "max_steps" and cfg.max_steps:
        return {
            "max_steps": p.step + cfg.max_steps
        }, f"it had reached its step limit; training {_count(cfg.max_steps, 'more step')}"
    if reason == "max_epochs":
        return {
            "max_epochs": p.epoch + cfg.max_epochs
        }, f"it had reached its epoch limit; training {_count(cfg.max_epochs, 'more epoch')}"
    if reason == "early_stop":
        return {
            "patience": p.bad_evals + cfg.patience
        }, f"it had stopped early; its patience starts again ({cfg.patience} evaluations)"
    return {}, None
