"""Build a training job (corpus -> model -> run folder -> Trainer), new or resumed.

The CLI and the TUI both start training through here, so they train the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from charlm_tui.core.batching import check_fits, split_train_val
from charlm_tui.core.catalog import resolve
from charlm_tui.core.corpus import Corpus, ProgressFn, TextOptions
from charlm_tui.core.errors import ConfigError, CorpusError, RunError
from charlm_tui.core.model import CharLM, ModelConfig, resolve_device
from charlm_tui.core.runs import Run, create_run, open_run
from charlm_tui.core.training import TrainConfig, Trainer, TrainEvent


FIXED_ON_RESUME = ("batch_size", "num_steps", "partition", "val_fraction", "seed")


@dataclass
class TrainingJob:
    run: Run
    trainer: Trainer
    corpus: Corpus

    def start(self) -> TrainEvent:
        """Train to the end in this thread; always leaves a final status and releases the lock."""
        try:
            return self.trainer.run()
        except BaseException as e:
            self.run.write_status(status="failed", reason="error", message=f"{type(e).__name__}: {e}")
            raise
        finally:
            self.run.release_lock()


def _split(corpus: Corpus, cfg: TrainConfig):
    train, val = split_train_val(corpus.ids, cfg.val_fraction)
    check_fits(len(train), cfg.batch_size, cfg.num_steps)
    return train, val


def new_job(home: Path, corpus_spec: str, model_kw: dict, cfg: TrainConfig, *,
            opts: TextOptions | None = None, corpus: Corpus | None = None,
            callback: Callable[[TrainEvent], None] | None = None,
            progress: ProgressFn | None = None, run_id: str | None = None) -> TrainingJob:
    cfg = cfg.validate()
    device = resolve_device(cfg.device)
    corpus = corpus or resolve(corpus_spec, home, opts, progress)
    train, val = _split(corpus, cfg)
    mcfg = ModelConfig(vocab_size=corpus.vocab.size, **model_kw).validate()
    torch.manual_seed(cfg.seed)
    model = CharLM.from_config(mcfg)
    run = create_run(home, corpus, mcfg, cfg, corpus_spec, run_id)
    trainer = Trainer(model, train, val, cfg, device, callback=callback, sink=run)
    return TrainingJob(run, trainer, corpus)


def resume_job(home: Path, run_id: str, overrides: dict | None = None, *,
               callback: Callable[[TrainEvent], None] | None = None,
               progress: ProgressFn | None = None) -> TrainingJob:
    """Continue a run from its last state; ``overrides`` may raise limits (max_steps, ...)."""
    run = open_run(home, run_id)
    cfg_json = run.config
    stored = run.train_config()
    fixed = [k for k in FIXED_ON_RESUME if k in (overrides or {}) and overrides[k] != getattr(stored, k)]
    if fixed:
        raise ConfigError(f"run {run.id}: {', '.join(fixed)} cannot change when resuming "
                          "(the saved data position depends on them); start a new run instead")
    cfg = replace(stored, **(overrides or {})).validate()
    mcfg = run.model_config()
    c = cfg_json["corpus"]
    opts = TextOptions(c.get("encoding", "utf-8"), c.get("normalize"), bool(c.get("lower", False)))
    corpus = resolve(c.get("spec") or c.get("name"), home, opts, progress)
    if corpus.sha256 != c.get("sha256"):
        raise CorpusError(f"the corpus {c.get('spec')!r} changed since run {run.id} started "
                          f"(sha256 {corpus.sha256[:12]} vs {str(c.get('sha256'))[:12]}); "
                          "start a new run instead")
    if corpus.vocab != run.vocab():
        raise RunError(f"run {run.id}: its vocab.json does not match the corpus; start a new run")
    if not (run.path / "last.safetensors").exists():
        raise RunError(f"run {run.id} has no saved training state to resume from")
    tensors, meta = run.load_last_state()
    run.acquire_lock()
    run.ignore_pending_control()
    try:
        train, val = _split(corpus, cfg)
        model = CharLM.from_config(mcfg)
        trainer = Trainer(model, train, val, cfg, resolve_device(cfg.device), callback=callback, sink=run)
        trainer.load_checkpoint_state(tensors, meta)
        trainer.p.best_nll = float(meta["progress"]["best_nll"])
        # update the stored config so later resumes keep the raised limits
        from charlm_tui.core.atomic import write_json
        write_json(run.path / "config.json", {**cfg_json, "train": cfg.to_json()})
    except BaseException:
        run.release_lock()
        raise
    return TrainingJob(run, trainer, corpus)
