"""The Trainer: truncated BPTT, per-token loss, clipping, evaluation, LR plateau cuts, early stopping.

The trainer never calls up into a UI. It emits plain ``TrainEvent`` dataclasses to a list of sinks
(the run folder, the UI, the CLI printer, a TensorBoard log, ...; progress events throttled by time,
every evaluation and every notable change always) and, when given a ``sink`` (a run folder), asks
it to save the best weights and the resumable state. A new consumer is a new sink.
Pause and stop are ``threading.Event``s checked before every step.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from charlm_tui.core.config import COSINE_FLOOR, LN2, EventKind, TrainConfig, TrainEvent, perplexity  # noqa: F401 (re-exported)
from charlm_tui.core.data.batching import check_fits, eval_streams, make_batches
from charlm_tui.core.distributed import SINGLE, Dist
from charlm_tui.core.lifecycle import FINISHED_REASONS, StopReason
from charlm_tui.core.model.charlm import CharLM
from charlm_tui.core.sizing import MAX_EVAL_CHARS, eval_interval, evaluation_note
from charlm_tui.core.training import snapshot
from charlm_tui.core.training.budget import Budget
from charlm_tui.core.training.precision import Precision, autocast
from charlm_tui.core.training.snapshot import Progress


@dataclass
class EvalResult:
    nll: float
    tokens: int

    @property
    def ppl(self) -> float:
        return perplexity(self.nll)

    @property
    def bpc(self) -> float:
        return self.nll / LN2


def make_adam(params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam with the fused kernel where this torch has it (one pass over all parameters); with a
    ``weight_decay``, decoupled from the gradient (AdamW), on every parameter."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, decoupled_weight_decay=True, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, decoupled_weight_decay=True, foreach=True)


def token_loss(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy per predicted character over (B*T, V): the mean (or sum) over every token."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction=reduction)


class EventSink(Protocol):
    """Anything that takes the trainer's events (they arrive in the training thread)."""

    def on_event(self, event: TrainEvent) -> None: ...


class CallbackSink:
    """A plain function as a sink."""

    def __init__(self, fn: Callable[[TrainEvent], None]):
        self.fn = fn

    def on_event(self, event: TrainEvent) -> None:
        self.fn(event)


class TrainSink(EventSink, Protocol):
    """The run folder: a sink that also keeps the weights and hears outside control."""

    def save_best(self, trainer: Trainer) -> None: ...
    def save_last(self, trainer: Trainer) -> None: ...
    def poll(self, trainer: Trainer) -> None: ...  # called before every step: outside control, heartbeat


EVAL_POLL_S = 0.25  # how often a running evaluation looks at stop requests, control and the heartbeat
EVAL_SAY_AFTER_S = 3.0  # an evaluation slower than this says how far it is
EVAL_SAY_EVERY_S = 5.0


class EvalInterrupted(Exception):
    """An evaluation left part-way because the run was asked to stop (or ran out of time)."""


@torch.inference_mode()
def evaluate(
    model: CharLM,
    data: torch.Tensor,
    batch_size: int,
    num_steps: int,
    dist: Dist = SINGLE,
    check: Callable[[float], None] | None = None,
) -> EvalResult:
    """Mean NLL per character over ``data``, state carried across batches. Under data parallelism
    each rank evaluates its block of streams and the sums are all-reduced: the same number as
    one process would get. ``check(fraction_done)`` is called after every batch; it may raise
    EvalInterrupted to leave (the model's mode is restored)."""
    was_training = model.training
    model.eval()
    try:
        batches = eval_streams(data, batch_size, num_steps, dist)
        state = None
        sums = torch.zeros(2, dtype=torch.float64, device=data.device)  # [nll sum, tokens]
        if batches.x.shape[0] > 0:
            n = len(batches)
            for k in range(n):
                b = batches.batch(0, k)
                logits, state = model(b.x, state)
                sums[0] += token_loss(logits, b.y, "sum").double()
                sums[1] += b.tokens
                if check is not None:
                    check((k + 1) / n)
        dist.all_reduce(sums)
    finally:
        model.train(was_training)
    return EvalResult(float(sums[0]) / float(sums[1]), int(sums[1]))


class Trainer:
    def __init__(
        self,
        model: CharLM,
        train_ids: torch.Tensor,
        val_ids: torch.Tensor,
        cfg: TrainConfig,
        device: torch.device | str = "cpu",
        callback: Callable[[TrainEvent], None] | None = None,
        sink: TrainSink | None = None,
        clock: Callable[[], float] = time.monotonic,
        dist: Dist = SINGLE,
        precision: Precision | None = None,
        sinks: Sequence[EventSink] = (),
    ):
        self.cfg = cfg.validate()
        self.dist = dist
        self.device = torch.device(device)
        # the training forward's arithmetic (fp32 unless a job chose otherwise); everything else is fp32
        self.precision = precision or Precision("fp32", "fp32")
        self._scaler = torch.amp.GradScaler(self.device.type) if self.precision.used == "fp16" else None
        self.model = model.to(self.device)
        self.net: torch.nn.Module = self.model  # what the training step calls: the model, or its DDP wrapper
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.train_ids = train_ids.to(self.device)
        self.val_chars = len(val_ids)  # the whole split; evaluations read at most MAX_EVAL_CHARS of it
        self.val_ids = val_ids[:MAX_EVAL_CHARS].to(self.device)
        check_fits(len(self.val_ids), 1, 1, "validation split")
        self.batches = make_batches(
            self.train_ids, cfg.partition, cfg.batch_size, cfg.num_steps, cfg.seed, dist.rank, dist.world
        )
        self.optimizer = make_adam(self.model.parameters(), cfg.lr, cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr
        )
        self.sink, self.clock = sink, clock
        # every event goes to each of these, in order: the run folder first (a consumer that reads
        # the folder when told of an event finds it written), then the others, then ``callback``
        self.sinks: list[EventSink] = [
            *((sink,) if sink is not None else ()),
            *sinks,
            *((CallbackSink(callback),) if callback is not None else ()),
        ]
        self.budget = Budget.of(self.cfg, len(self.batches))
        self.stop_event = threading.Event()
        self._pause = threading.Event()
        self.stop_reason: str | None = None
        self.progress = Progress()  # where the run is: step, epoch, best so far, ... (checkpointed)
        self.hidden: snapshot.Hidden = None  # carried between batches
        self._best: dict[str, torch.Tensor] | None = None  # in-memory copy of the best weights
        # the running average of the weights (cfg.ema > 0): what evaluations see and the best checkpoint keeps
        self.ema: list[torch.Tensor] | None = None
        if self.cfg.ema > 0:
            self.ema = [p.detach().clone() for p in self.model.parameters()]
        self._agreed_elapsed = 0.0  # under DDP: elapsed time as all ranks agreed at the last evaluation
        self._synced_stop = False  # under DDP: the ranks agreed to stop
        self._steps_session = self._tokens_session = (
            0  # steps, characters trained, and seconds spent in steps, since run() began
        )
        self._train_seconds_session = 0.0
        # the clock of the current session (run() sets them): evaluations keep `elapsed` moving
        self._base_elapsed, self._session_start = 0.0, clock()
        self._eval_started = self._eval_polled = self._eval_said = 0.0
        self._eval_interrupted = False

    # ------------------------------------------------------------------ control
    def request_stop(self, reason: str = "stopped") -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stop_event.set()

    def pause(self) -> None:
        self._pause.set()

    def resume(self) -> None:
        self._pause.clear()

    @property
    def paused(self) -> bool:
        """Asked to pause (the loop waits before its next step until resumed or stopped)."""
        return self._pause.is_set()

    def best_weights(self) -> dict[str, torch.Tensor] | None:
        """The weights of the best evaluation in this session (None before one)."""
        return self._best

    def weights(self) -> dict[str, torch.Tensor]:
        """A copy of the current weights."""
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    @property
    def steps_per_epoch(self) -> int:
        return self.budget.steps_per_epoch

    @property
    def carried_rows(self) -> int | None:
        """How many streams carry their hidden state from batch to batch (None: state resets each batch)."""
        return None if self.batches.reset_state_each_batch else int(self.batches.x.shape[0])

    @property
    def eval_interval(self) -> int:
        return eval_interval(self.cfg.eval_every, self.steps_per_epoch)

    def budget_progress(self) -> float:
        """How far through its budget the run is, in [0, 1]: the furthest of steps, epochs and time."""
        # under DDP, time as agreed at the last evaluation: ranks' clocks differ, their LRs must not
        elapsed = self._agreed_elapsed if self.dist.enabled else self.progress.elapsed
        return self.budget.progress(self.progress.step, elapsed)

    def scheduled_lr(self) -> float:
        """The cosine schedule's LR for the next step: linear warmup, then cosine decay from the
        peak to COSINE_FLOOR x peak at the end of the budget, times the plateau cuts so far."""
        peak = self.cfg.lr * self.progress.lr_scale
        if self.cfg.warmup_steps and self.progress.step < self.cfg.warmup_steps:
            return peak * (self.progress.step + 1) / self.cfg.warmup_steps
        cos = 0.5 * (1.0 + math.cos(math.pi * self.budget_progress()))
        return peak * (COSINE_FLOOR + (1.0 - COSINE_FLOOR) * cos)

    def _epoch_float(self) -> float:
        return self.progress.epoch + self.progress.batch_index / max(1, self.steps_per_epoch)

    def _eta(self, session_steps: int, session_elapsed: float) -> float | None:
        if session_steps == 0:
            return None
        return self.budget.eta(self.progress.step, self.progress.elapsed, session_elapsed / session_steps)

    def _emit(self, kind: EventKind, **kw) -> TrainEvent:
        best = self.progress.best_nll if math.isfinite(self.progress.best_nll) else None
        ev = TrainEvent(
            kind=kind,
            step=self.progress.step,
            epoch=round(self._epoch_float(), 4),
            total_steps=self.budget.total_steps,
            lr=self.lr,
            elapsed=self.progress.elapsed,
            best_val_nll=best,
            best_val_ppl=perplexity(best) if best is not None else None,
            best_val_bpc=best / LN2 if best is not None else None,
            patience_left=self.cfg.patience - self.progress.bad_evals,
            budget=round(self.budget_progress(), 4),
            time_budget=self.cfg.max_seconds,
            **kw,
        )
        for s in self.sinks:
            s.on_event(ev)
        return ev

    # ------------------------------------------------------------------ one step
    def _train_step(self, acc: torch.Tensor) -> int:
        b = self.batches.batch(self.progress.epoch, self.progress.batch_index)
        if self.cfg.lr_schedule == "cosine":
            lr = self.scheduled_lr()
            for g in self.optimizer.param_groups:
                g["lr"] = lr
        if self.batches.reset_state_each_batch or self.progress.batch_index == 0:
            state = None
        else:
            state = CharLM.detach_state(self.hidden)
        with autocast(self.precision.used, self.device):  # a no-op in fp32
            logits, state = self.net(b.x, state)
            loss = token_loss(logits, b.y)  # float32 either way
        self.optimizer.zero_grad(set_to_none=True)
        if self._scaler is None:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip, foreach=True)
            self.optimizer.step()
        else:  # fp16 on a GPU: scaled so that small gradients survive; unscaled before clipping
            self._scaler.scale(loss).backward()
            self._scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip, foreach=True)
            self._scaler.step(self.optimizer)
            self._scaler.update()
        if self.ema is not None:  # the average warms up: early weights are soon forgotten
            decay = min(self.cfg.ema, (1 + self.progress.step) / (10 + self.progress.step))
            with torch.no_grad():
                torch._foreach_lerp_(self.ema, [p.detach() for p in self.model.parameters()], 1.0 - decay)
        # carried as float32 whatever the step ran in: a checkpoint resumes the same under any precision
        self.hidden = (
            None if self.batches.reset_state_each_batch else CharLM.map_state(state, lambda s: s.detach().float())
        )
        acc += loss.detach().double() * b.tokens
        self.progress.step += 1
        self.progress.batch_index += 1
        if self.progress.batch_index >= self.steps_per_epoch:
            self.progress.epoch += 1
            self.progress.batch_index = 0
            self.hidden = None
        return b.tokens

    # ------------------------------------------------------------------ evaluation
    @contextlib.contextmanager
    def _evaluation_weights(self):
        """The weights an evaluation sees and the best checkpoint keeps: the running average when
        ``ema`` is on (the trained weights are put back afterwards), else the weights as they are."""
        if self.ema is None:
            yield
            return
        params = list(self.model.parameters())
        trained = [p.detach().clone() for p in params]
        with torch.no_grad():
            torch._foreach_copy_(params, self.ema)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(params, trained)

    def _eval_check(self, done: float) -> None:
        """Between evaluation batches: keep the heartbeat and outside control going, say how far a
        slow evaluation is, and leave it when the run is asked to stop. The time budget does not
        cut one short: it evaluates the weights the run ends with (a 30-minute run on a 12 MB
        corpus, cut there, had its last 900 steps, at the cosine's lowest LR, neither evaluated nor
        kept), reads at most MAX_EVAL_CHARS, and no other follows it. Under data parallelism the
        ranks must finish it together: no leaving."""
        now = self.clock()
        if now - self._eval_polled < EVAL_POLL_S:
            return
        self._eval_polled = now
        self.progress.elapsed = self._base_elapsed + (now - self._session_start)
        if self.sink is not None:
            self.sink.poll(self)
        if now - self._eval_started >= EVAL_SAY_AFTER_S and now - self._eval_said >= EVAL_SAY_EVERY_S:
            self._eval_said = now
            self._emit("evaluating", message=f"evaluating on {len(self.val_ids):,} validation chars: {done:.0%}")
        if self.dist.enabled:
            return
        if self.stop_event.is_set():
            raise EvalInterrupted

    def _evaluate_and_react(self) -> None:
        now = self.clock()
        self._eval_started = self._eval_polled = now
        self._eval_said = now - EVAL_SAY_EVERY_S  # the first line comes EVAL_SAY_AFTER_S in
        try:
            with self._evaluation_weights():
                go_on = self._evaluate()
        except EvalInterrupted:
            self._eval_interrupted = True  # no final evaluation either: the run stops as it is
            return  # the run stops before its next step; its last state is saved then
        if not go_on:
            return
        if self.progress.bad_evals >= self.cfg.patience:
            self.request_stop("early_stop")
        if self.sink is not None:
            self.sink.save_last(self)
        if self.dist.enabled:
            self._agree_on_stop()

    def _evaluate(self) -> bool:
        """Evaluate, keep the best weights, step the plateau scheduler; False after a NaN."""
        res = evaluate(
            self.model,
            self.val_ids,
            self.cfg.batch_size * self.dist.world,
            self.cfg.num_steps,
            self.dist,
            check=self._eval_check,
        )
        sums = self.dist.all_reduce(
            torch.tensor(
                [self.progress.loss_sum, float(self.progress.loss_tokens)], dtype=torch.float64, device=self.device
            )
        )
        train_loss = float(sums[0] / sums[1]) if sums[1] > 0 else None
        self.progress.loss_sum, self.progress.loss_tokens = 0.0, 0
        self.progress.last_eval_step = self.progress.step
        self.progress.history.append((self.progress.step, res.nll))
        if not math.isfinite(res.nll):
            self.request_stop("nan")
            return False
        improved = res.nll < self.progress.best_nll
        if improved:
            self.progress.best_nll, self.progress.best_step, self.progress.bad_evals = res.nll, self.progress.step, 0
            self._best = self.weights()
        else:
            self.progress.bad_evals += 1
        lr_before = self.lr
        self.scheduler.step(res.ppl)
        self._emit(
            "eval",
            train_loss=train_loss,
            val_nll=res.nll,
            val_ppl=res.ppl,
            val_bpc=res.bpc,
            chars_per_s=self.chars_per_s(),
            lr_cut_from=lr_before if self.lr < lr_before else None,  # in the metrics, for whoever follows the run
        )
        if improved:
            if self.sink is not None:
                self.sink.save_best(self)
            self._emit("best", message=f"new best val ppl {res.ppl:.3f} at step {self.progress.step}")
        if self.lr < lr_before:
            self.progress.lr_scale *= self.lr / lr_before
            self._emit("lr_reduced", message=f"val ppl plateaued: LR cut {lr_before:.3g} -> {self.lr:.3g}")
        return True

    def _agree_on_stop(self) -> None:
        """Ranks stop together: a stop request or the time budget on any rank stops all of them,
        decided at evaluation steps (which every rank reaches at the same step)."""
        local = self.stop_event.is_set() or (
            self.cfg.max_seconds is not None and self.progress.elapsed >= self.cfg.max_seconds
        )
        flags = self.dist.all_reduce(
            torch.tensor([1.0 if local else 0.0, self.progress.elapsed], dtype=torch.float64, device=self.device), "max"
        )
        self._agreed_elapsed = float(flags[1])  # the cosine schedule's clock: the same on every rank
        if flags[0].item() > 0:
            self.request_stop(self.stop_reason or "max_seconds")
            self._synced_stop = True

    def session_steps(self) -> int:
        """Steps taken since run() began (not counting those of earlier sessions of a resumed run)."""
        return self._steps_session

    def chars_per_s(self) -> float | None:
        """Characters per second of training steps (evaluation not counted) since run() began."""
        return self._tokens_session / self._train_seconds_session if self._train_seconds_session > 0 else None

    # ------------------------------------------------------------------ main loop
    def _limit_reached(self, steps_only: bool = False) -> str | None:
        p = self.progress
        return self.budget.reached(p.step, p.epoch, None if steps_only else p.elapsed)

    def _wait_while_paused(self) -> None:
        if not self.paused or self.stop_event.is_set():
            return
        if self.sink is not None:
            self.sink.save_last(self)
        self._emit("paused", message="paused; state saved")
        while self.paused and not self.stop_event.is_set():
            self.stop_event.wait(0.05)
            if self.sink is not None:
                self.sink.poll(self)
        self._emit("resumed", message="resumed")

    def run(self) -> TrainEvent:
        """Train until a limit, early stopping, NaN, or a stop request. Returns the final event."""
        self.model.train()
        acc = torch.zeros((), dtype=torch.float64, device=self.device)
        session_start = self.clock()
        base_elapsed = self.progress.elapsed
        last_emit = window_t0 = self.clock()
        pending_tokens = window_tokens = 0  # tokens in `acc` not yet drained / since the last progress event
        window_sum = 0.0
        self._base_elapsed, self._session_start = base_elapsed, session_start
        what = "training" if self.progress.step == 0 else f"resuming at step {self.progress.step}:"
        capped = (
            f"; evaluations read the first {len(self.val_ids):,} of {self.val_chars:,} validation chars"
            if self.val_chars > len(self.val_ids)
            else ""
        )
        costly = evaluation_note(
            len(self.val_ids), self.cfg.eval_every, self.cfg.batch_size, self.cfg.num_steps, self.steps_per_epoch
        )
        self._emit(
            "start",
            message=f"{what} {self.model.num_parameters():,} parameters, "
            f"{self.steps_per_epoch} steps per epoch on {self.device.type}; {self.precision.describe()}{capped}"
            + (f"; {costly}" if costly else ""),
            precision=self.precision.used,
        )
        self._synced_stop = self._eval_interrupted = False
        self._agreed_elapsed = self.progress.elapsed  # equal on every rank at the start (same checkpoint)
        while True:
            if self.sink is not None:
                self.sink.poll(self)
            if self.dist.enabled:  # no pausing, and stops only where all ranks agreed (or step limits)
                reason = self.stop_reason if self._synced_stop else self._limit_reached(steps_only=True)
            else:
                self._wait_while_paused()
                reason = self.stop_reason if self.stop_event.is_set() else self._limit_reached()
            if reason is not None:
                break
            t0 = self.clock()
            tokens = self._train_step(acc)
            now = self.clock()
            pending_tokens += tokens
            self._tokens_session += tokens
            self._steps_session += 1
            self._train_seconds_session += now - t0
            self.progress.train_seconds += now - t0
            self.progress.elapsed = base_elapsed + (now - session_start)
            eval_due = self.progress.step - self.progress.last_eval_step >= self.eval_interval
            # under DDP every host sync happens at evaluation steps, which all ranks share
            emit_due = now - last_emit >= self.cfg.event_interval and not self.dist.enabled
            if not (eval_due or emit_due):
                continue
            total = float(acc)  # the only host sync: at most once per event interval or evaluation
            acc.zero_()
            self.progress.loss_sum += total
            self.progress.loss_tokens += pending_tokens
            window_sum += total
            window_tokens += pending_tokens
            pending_tokens = 0
            bad = not math.isfinite(total)
            if self.dist.enabled:  # every rank is at this (evaluation) step: agree, or they would diverge
                bad = self.dist.all_reduce(torch.tensor([float(bad)], device=self.device), "max").item() > 0
            if bad:
                self.request_stop("nan")
                self._synced_stop = True
                continue
            if emit_due:
                self._emit(
                    "progress",
                    train_loss=window_sum / max(1, window_tokens),
                    chars_per_s=window_tokens / max(1e-9, now - window_t0),
                    eta=self._eta(self._steps_session, self.progress.elapsed - base_elapsed),
                )
                last_emit = window_t0 = now
                window_sum, window_tokens = 0.0, 0
            if eval_due:
                self._evaluate_and_react()
        self.progress.loss_tokens += pending_tokens
        return self._finish(reason, acc)

    def _finish(self, reason: str, acc: torch.Tensor) -> TrainEvent:
        self.progress.loss_sum += float(acc)
        if reason == "nan":
            self.progress.loss_sum, self.progress.loss_tokens = 0.0, 0
            if self._best is not None:
                self.model.load_state_dict(self._best)
                msg = "loss became NaN/inf; stopped and kept the best weights (try a lower --lr or --clip)"
            else:
                msg = (
                    "loss became NaN/inf before any evaluation, so no weights are worth keeping; "
                    "start again with a lower --lr or --clip"
                )
        else:
            if (
                reason in FINISHED_REASONS - {StopReason.EARLY_STOP}
                and self.progress.step > self.progress.last_eval_step
                and not self._eval_interrupted
            ):
                self._evaluate_and_react()  # the time budget is spent already: only a stop request leaves it
            msg = {
                "early_stop": f"early stop: val ppl did not improve for {self.cfg.patience} evaluations",
                "max_steps": "reached max steps",
                "max_epochs": "reached max epochs",
                "max_seconds": "reached the time budget",
                "stopped": "stopped on request; state saved",
                "quit": "stopped: the app is quitting; state saved",
                "interrupt": "interrupted (Ctrl+C); state saved",
                "terminated": "terminated (SIGTERM); state saved",
                "hangup": "the terminal hung up; state saved",
            }.get(reason, f"stopped ({reason})")
            if self.sink is not None:
                self.sink.save_last(self)
        return self._emit("done", reason=reason, message=msg, chars_per_s=self.chars_per_s())

    # ------------------------------------------------------------------ resumable state
    def checkpoint(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Everything to continue exactly: tensors (weights, optimizer moments, hidden state, RNG) and
        JSON metadata (progress, optimizer settings, scheduler, config)."""
        return snapshot.capture(self)

    def restore(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        """Put the trainer back where ``checkpoint`` found it; CheckpointError if it does not fit
        (the trainer is then to be discarded)."""
        self.progress, self.hidden = snapshot.restore(self, tensors, meta)
        self._best = None
        if self.ema is not None:  # a checkpoint from before the average was on starts it from the weights
            saved = [tensors.get(f"ema.{i}") for i in range(len(self.ema))]
            params = list(self.model.parameters())
            self.ema = [
                s.to(self.device).clone() if s is not None and s.shape == p.shape else p.detach().clone()
                for s, p in zip(saved, params)
            ]
