"""A run's budget: its step, epoch and time limits, whichever comes first, in one value.

The trainer asks it how far the run is (the cosine schedule follows that), whether a limit is
reached, and how long is left; a finished run asks it for another round of the same size.
No torch here: the Configure form uses the same arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

from charlm_tui.core.config import TrainConfig
from charlm_tui.core.lifecycle import FINISHED_REASONS, StopReason


@dataclass(frozen=True)
class Budget:
    max_epochs: int
    max_steps: int | None
    max_seconds: float | None
    steps_per_epoch: int

    @classmethod
    def of(cls, cfg: TrainConfig, steps_per_epoch: int) -> Budget:
        return cls(cfg.max_epochs, cfg.max_steps, cfg.max_seconds, max(1, steps_per_epoch))

    @property
    def total_steps(self) -> int:
        """Steps until the step or epoch limit (the time limit may come first)."""
        total = self.max_epochs * self.steps_per_epoch
        return min(total, self.max_steps) if self.max_steps else total

    def progress(self, step: int, elapsed: float) -> float:
        """How far through the budget a run is, in [0, 1]: the furthest of steps, epochs and time."""
        done = step / max(1, self.total_steps)
        if self.max_seconds:
            done = max(done, elapsed / self.max_seconds)
        return min(1.0, done)

    def reached(self, step: int, epoch: int, elapsed: float | None = None) -> StopReason | None:
        """The limit a run at ``step``/``epoch``/``elapsed`` has reached; with ``elapsed`` None, the
        step and epoch limits only (ranks of a data-parallel run agree on time separately)."""
        if self.max_steps is not None and step >= self.max_steps:
            return StopReason.MAX_STEPS
        if epoch >= self.max_epochs:
            return StopReason.MAX_EPOCHS
        if elapsed is not None and self.max_seconds is not None and elapsed >= self.max_seconds:
            return StopReason.MAX_SECONDS
        return None

    def eta(self, step: int, elapsed: float, seconds_per_step: float) -> float:
        """Seconds left: to the step/epoch limit at the measured pace, or to the time limit if sooner."""
        etas = [(self.total_steps - step) * seconds_per_step]
        if self.max_seconds:
            etas.append(self.max_seconds - elapsed)
        return max(0.0, min(etas))


@dataclass(frozen=True)
class Round:
    """Another round for a run that ended at a limit: which limit, by how much, and the overrides
    that resume it with that much more."""

    limit: str  # "seconds" | "steps" | "epochs" | "patience"
    size: float
    overrides: dict


def another_round(
    reason: str | None, first: TrainConfig, step: int, epoch: int, elapsed: float, bad_evals: int
) -> Round | None:
    """Limits are totals (a 5-minute run has ``max_seconds`` 300 and, when finished, 300 s behind it),
    so resuming a finished run as it is would stop at once. Another round is as big as the limits the
    run was created with (``first``): the time budget grows by its size (the cosine schedule
    stretches over the longer budget), or the step or epoch limit, or, after an early stop, the
    patience starts again. None for a run that did not end at a limit (it just continues)."""
    if reason not in FINISHED_REASONS:
        return None
    if reason == StopReason.MAX_SECONDS and first.max_seconds:
        return Round("seconds", first.max_seconds, {"max_seconds": elapsed + first.max_seconds})
    if reason == StopReason.MAX_STEPS and first.max_steps:
        return Round("steps", first.max_steps, {"max_steps": step + first.max_steps})
    if reason == StopReason.MAX_EPOCHS:
        return Round("epochs", first.max_epochs, {"max_epochs": epoch + first.max_epochs})
    if reason == StopReason.EARLY_STOP:
        return Round("patience", first.patience, {"patience": bad_evals + first.patience})
    return None
