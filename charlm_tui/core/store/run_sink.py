"""The run folder as the trainer's sink: each evaluation appended to metrics.jsonl (flushed and
fsynced), the status and its heartbeat in status.json, the checkpoints saved, and commands from other
processes obeyed between steps. The folder's files are ``core.store.run``'s; this is what a training
process does with them."""

from __future__ import annotations

import json
import os
import time

from charlm_tui.core.config import TrainEvent
from charlm_tui.core.lifecycle import status_for
from charlm_tui.core.store.run import STATUS_HEARTBEAT_S, Run, Trainee, _now
from charlm_tui.core.store.run_control import CONTROL_POLL_S


class RunSink:
    def __init__(self, run: Run):
        self.run = run
        self._last_poll = 0.0

    def save_best(self, trainer: Trainee) -> None:
        self.run.save_best(trainer)

    def save_last(self, trainer: Trainee) -> None:
        self.run.save_last(trainer)

    def poll(self, trainer: Trainee) -> None:
        """Between steps: obey a command from another process, and keep the heartbeat going."""
        now = time.monotonic()
        if now - self._last_poll < CONTROL_POLL_S:
            return
        self._last_poll = now
        command = self.run.control.take_new()
        if command == "pause":
            trainer.pause()
        elif command == "resume":
            trainer.resume()
        elif command == "stop":
            trainer.resume()
            trainer.request_stop("stopped")
        if now - self.run.last_status_write > STATUS_HEARTBEAT_S:
            self.run.write_status()  # heartbeat, also while paused

    def on_event(self, ev: TrainEvent) -> None:
        if ev.kind == "eval":
            rec = {
                "step": ev.step,
                "epoch": ev.epoch,
                "train_loss": ev.train_loss,
                "val_nll": ev.val_nll,
                "val_ppl": ev.val_ppl,
                "val_bpc": ev.val_bpc,
                "lr": ev.lr,
                "chars_per_s": ev.chars_per_s,
                "elapsed": round(ev.elapsed, 3),
                "patience_left": ev.patience_left,
                "lr_cut_from": ev.lr_cut_from,
                "time": _now(),
            }
            with open(self.run.path / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
                f.flush()
                os.fsync(f.fileno())
        common = {
            "steps": ev.step,
            "best_val_nll": ev.best_val_nll,
            "best_val_ppl": ev.best_val_ppl,
            "best_val_bpc": ev.best_val_bpc,
            "epoch": ev.epoch,
            "total_steps": ev.total_steps,
            "budget": ev.budget,
            "time_budget": ev.time_budget,
        }
        if ev.kind == "start":
            self.run.write_status(status="running", reason=None, **common)
        elif ev.kind == "paused":
            self.run.write_status(status="paused", reason=None, **common)
        elif ev.kind in ("resumed", "eval"):
            self.run.write_status(status="running", **common)
        elif ev.kind == "done":
            status = status_for(ev.reason)
            self.run.write_status(status=status, reason=ev.reason, message=ev.message, **common)
        elif time.monotonic() - self.run.last_status_write > STATUS_HEARTBEAT_S:
            self.run.write_status(**common)  # heartbeat with fresh numbers
