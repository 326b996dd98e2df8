"""A run is a folder in the data dir that any later process can list, resume, sample or delete.

    runs/<run-id>/config.json      model + training config, corpus identity, versions
                  vocab.json       the characters (id 0 is <unk>)
                  metrics.jsonl    one line per evaluation, appended and flushed as training goes
                  status.json      running / paused / stopped / finished / failed, with reason etc.
                  best.safetensors weights with the best validation perplexity so far
                  last.safetensors everything needed to resume exactly (weights, optimizer,
                                   scheduler, RNG, data position, early-stopping counters)
                  lock             held by the one process training into the run

Every file is written atomically; readers never need the lock.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from charlm_tui.core.atomic import write_bytes, write_json
from charlm_tui.core.errors import CharLMError, CheckpointError, RunError
from charlm_tui.core.store import checkpoint
from charlm_tui.core.store.progress import Progress
from charlm_tui.core.store.run_control import ControlChannel
from charlm_tui.core.store.run_files import read_config, read_json, read_metrics, read_status
from charlm_tui.core.store.run_lock import RunLock, heartbeat_age  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from charlm_tui.core.model.charlm import CharLM

STATUS_HEARTBEAT_S = 5.0
STALLED_AFTER_S = 4 * STATUS_HEARTBEAT_S  # a running run whose status is older than this is "stalled"
RUN_FILES = (
    "config.json",
    "vocab.json",
    "metrics.jsonl",
    "status.json",
    "best.safetensors",
    "last.safetensors",
    "lock",
    "control.json",
)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Trainee(Protocol):
    """What a run folder needs from the trainer that writes into it (core.training.Trainer)."""

    model: CharLM
    progress: Progress

    def checkpoint(self) -> tuple[dict, dict]: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def request_stop(self, reason: str = "stopped") -> None: ...


WEIGHTS = ("best", "last")


class Run:
    def __init__(self, path: Path):
        self.path = path
        self.id = path.name
        self.lock = RunLock(path, self.id, self.status)  # the one writer
        self.control = ControlChannel(path)  # commands from other processes
        self.metrics_skipped = 0
        self.last_status_write = 0.0
        self._status: dict | None = None

    # ---------------------------------------------------------------- files
    @property
    def config(self) -> dict:
        return read_config(self.path / "config.json")

    def corpus_source(self):
        """(what the run was trained on, as the user gave it; the decoding options), for resolving it again."""
        from charlm_tui.core.data.corpus import TextOptions

        c = self.config["corpus"]
        spec = c.get("spec") or c.get("name")
        if not spec:
            raise RunError(f"{self.path / 'config.json'}: names no corpus; the run cannot be resumed or evaluated")
        return spec, TextOptions(c.get("encoding") or "utf-8", c.get("normalize"), c.get("lower") is True)

    def model_config(self):
        """The model section of config.json, checked, including that such a model fits in this
        machine's memory (every load builds one from it)."""
        from charlm_tui.core.config import ModelConfig, check_loads

        section = self.config["model"]
        try:
            cfg = ModelConfig.from_json(section)
            check_loads(cfg, f"{self.path / 'config.json'}")
        except (TypeError, ValueError, CharLMError) as e:
            raise RunError(f"{self.path / 'config.json'}: invalid model config ({e})") from None
        return cfg

    def train_config(self):
        from charlm_tui.core.config import TrainConfig

        section = self.config["train"]
        try:
            return TrainConfig.from_json(section)
        except (TypeError, ValueError, CharLMError) as e:
            raise RunError(f"{self.path / 'config.json'}: invalid training config ({e})") from None

    def has_config(self) -> bool:
        """Whether the run got as far as writing its config (a folder made for a trainer that never
        started has none)."""
        return (self.path / "config.json").exists()

    def update_train_config(self, cfg, world_size: int, precision: dict) -> None:
        """Record the training config a resume runs with (raised limits stay raised for later
        resumes) and the precision it trains in (core.training.precision.Precision as JSON: a later
        resume keeps it); the limits the run was created with stay in ``first_train``."""
        old = self.config
        write_json(
            self.path / "config.json",
            {
                **old,
                "train": cfg.to_json(),
                "world_size": world_size,
                "first_train": old.get("first_train") or old["train"],
                "precision": precision,
            },
        )

    def _weights_path(self, which: str) -> Path:
        if which not in WEIGHTS:
            raise RunError(f"unknown weights {which!r}; use best or last")
        return self.path / f"{which}.safetensors"

    def has_weights(self, which: str = "best") -> bool:
        return self._weights_path(which).is_file()

    def weights_version(self, which: str = "best") -> int:
        """Changes whenever those weights are saved again (0 when there are none): a cache key."""
        try:
            return self._weights_path(which).stat().st_mtime_ns
        except OSError:
            return 0

    def weights_step(self, which: str = "best") -> int | None:
        """The training step those weights were saved at (read from the checkpoint's header), or
        None when there are none or the header does not say."""
        try:
            meta = checkpoint.read_header(self._weights_path(which))["meta"]
        except CharLMError:
            return None
        progress = meta.get("progress")
        step = meta.get("step") if which == "best" else (progress.get("step") if isinstance(progress, dict) else None)
        return step if isinstance(step, int) and not isinstance(step, bool) else None

    def check_weights(self) -> None:
        """Read the header of each checkpoint the run has; CheckpointError for a damaged one."""
        for which in WEIGHTS:
            if self.has_weights(which):
                checkpoint.read_header(self._weights_path(which))

    def last_progress(self) -> Progress:
        """Where the run's resumable state stands (its last.safetensors); CheckpointError if it has
        none or it is damaged."""
        path = self._weights_path("last")
        try:
            return Progress.from_json(checkpoint.read_header(path)["meta"].get("progress"))
        except ValueError as e:
            raise CheckpointError(f"{path}: {e}; the run cannot be resumed") from None

    def vocab(self):
        from charlm_tui.core.data.vocab import Vocab

        path = self.path / "vocab.json"
        try:
            return Vocab.from_json(read_json(path, "vocab.json"))
        except ValueError as e:
            raise RunError(f"{path}: {e}") from None

    def status(self) -> dict:
        """status.json, checked; a damaged one reads as status "damaged" with the reason."""
        try:
            return read_status(self.path / "status.json")
        except RunError as e:
            return {"status": "damaged", "reason": str(e)}

    def save_sample(self, text: str) -> Path:
        """Keep generated text: ``samples/<time>.txt`` in the run's folder (never overwritten)."""
        folder = self.path / "samples"
        folder.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path, n = folder / f"{stamp}.txt", 1
        while path.exists():
            path, n = folder / f"{stamp}-{n}.txt", n + 1
        write_bytes(path, text.encode("utf-8"))
        return path

    def metrics(self) -> list[dict]:
        """Every valid evaluation record (damaged lines are skipped; ``metrics_skipped`` counts them)."""
        records, self.metrics_skipped, _ = read_metrics(self.path / "metrics.jsonl")
        return records

    def new_metrics(self, offset: int) -> tuple[list[dict], int]:
        """Evaluations appended since byte ``offset`` (whole lines only) and the new offset; for
        following a run that another process is writing."""
        records, skipped, offset = read_metrics(self.path / "metrics.jsonl", offset)
        self.metrics_skipped += skipped
        return records, offset

    def trim_metrics(self, last_step: int) -> int:
        """Drop evaluations after ``last_step``: a process killed after its last checkpoint wrote
        them, and the resumed run will evaluate those steps again. Returns how many were dropped."""
        path = self.path / "metrics.jsonl"
        records = self.metrics()
        keep = [m for m in records if m["step"] <= last_step]
        if len(keep) == len(records) and not self.metrics_skipped:
            return 0
        write_bytes(path, "".join(json.dumps(m) + "\n" for m in keep).encode("utf-8"))
        return len(records) - len(keep)

    def write_status(self, **changes) -> None:
        st = self._status if self._status is not None else self.status()
        st.update(changes, updated=_now(), heartbeat=time.time(), pid=os.getpid(), host=socket.gethostname())
        self._status = st
        write_json(self.path / "status.json", st)
        self.last_status_write = time.monotonic()

    def check_writable(self) -> None:
        """Refuse to train into a folder whose files cannot be written (one replaced by a folder)."""
        for name in RUN_FILES:
            p = self.path / name
            if p.exists() and not p.is_file():
                raise RunError(f"{p} is not a file (a folder or device in its place); remove it, or delete the run")

    # ---------------------------------------------------------------- lock (core.store.run_lock)
    def acquire_lock(self, pid: int | None = None) -> None:
        self.lock.acquire(pid)

    def lock_holder(self) -> dict | None:
        return self.lock.holder()

    def break_lock(self, force: bool = False, confirm: Callable[[str], bool] | None = None) -> str:
        return self.lock.break_lock(force, confirm)

    def release_lock(self) -> None:
        self.lock.release()

    # ---------------------------------------------------------------- checkpoints
    def save_best(self, trainer: Trainee) -> None:
        p = trainer.progress
        meta = {
            "step": p.step,
            "val_nll": p.best_nll,
            "model": trainer.model.config.to_json(),
            "vocab": self.vocab().to_json(),
        }
        tensors = {k: v for k, v in trainer.model.state_dict().items()}
        checkpoint.save(self.path / "best.safetensors", tensors, meta, "best")

    def save_last(self, trainer: Trainee) -> None:
        tensors, meta = trainer.checkpoint()
        meta["model"] = trainer.model.config.to_json()
        checkpoint.save(self.path / "last.safetensors", tensors, meta, "last")

    def load_model(self, which: str = "best", device: str = "cpu"):
        """(CharLM with the chosen weights, Vocab)."""
        from charlm_tui.core.model.charlm import CharLM

        path = self._weights_path(which)
        if not path.exists():
            other = "last" if which == "best" else "best"
            if self.has_weights(other):
                raise CheckpointError(
                    f"run {self.id} has no {which} weights yet; its {other} weights can be "
                    f"used (--{other}; in the app, w switches)"
                )
            raise CheckpointError(
                f"run {self.id} has no saved weights yet: they are saved at its first evaluation and when it stops"
            )
        tensors, _meta = checkpoint.load(path, which)
        model = CharLM.from_config(self.model_config())
        sd = {
            k[6:] if k.startswith("model.") else k: v
            for k, v in tensors.items()
            if k.startswith("model.") or which == "best"
        }
        try:
            model.load_state_dict(sd)
        except RuntimeError as e:
            raise CheckpointError(
                f"{path}: weights do not fit the model in config.json ({str(e).splitlines()[0]})"
            ) from None
        vocab = self.vocab()
        if vocab.size != model.config.vocab_size:
            raise CheckpointError(
                f"{self.path / 'vocab.json'}: {vocab.size} entries, but the model has "
                f"{model.config.vocab_size} (a vocab.json from another run?); delete the run"
            )
        return model.to(device).eval(), vocab

    def load_last_state(self) -> tuple[dict, dict] | None:
        """The resumable state (tensors, metadata); None for a run killed before its first save."""
        return checkpoint.load(self._weights_path("last"), "last") if self.has_weights("last") else None

    def write_new(self, vocab_json: dict, config: dict) -> None:
        """A new run's vocabulary and config (a resume reads them back)."""
        write_json(self.path / "vocab.json", vocab_json)
        write_json(self.path / "config.json", config)

    # ---------------------------------------------------------------- control (core.store.run_control)
    def send_control(self, command: str) -> None:
        self.control.send(command)

    def read_control(self) -> dict | None:
        return self.control.read()

    def ignore_pending_control(self) -> None:
        self.control.ignore_pending()
