"""A run's lifecycle in one place: why training stopped (StopReason), what state a run is in
(RunStatus), and the one mapping from a reason to the status it leaves the run in.

Both are str-valued, so status.json, metrics and --json output keep the same strings; a member
compares equal to its string, and formats as it."""

from __future__ import annotations

from enum import Enum


class _Text(str, Enum):
    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class StopReason(_Text):
    MAX_STEPS = "max_steps"
    MAX_EPOCHS = "max_epochs"
    MAX_SECONDS = "max_seconds"
    EARLY_STOP = "early_stop"
    NAN = "nan"  # the loss became NaN/inf
    ERROR = "error"  # training raised
    STOPPED = "stopped"  # asked to: s in the app, 'runs stop'
    QUIT = "quit"  # the app is quitting (q, after asking)
    HANGUP = "hangup"  # the terminal or the browser tab went away
    TERMINATED = "terminated"  # SIGTERM
    INTERRUPT = "interrupt"  # Ctrl+C


class RunStatus(_Text):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # its process ended without saving a final status
    STALLED = "stalled"  # its process holds the lock but has not beaten for a while
    DAMAGED = "damaged"
    UNKNOWN = "unknown"


# a limit was reached: the run ended as planned (another round of the same limit can follow)
FINISHED_REASONS = frozenset(
    {StopReason.MAX_STEPS, StopReason.MAX_EPOCHS, StopReason.MAX_SECONDS, StopReason.EARLY_STOP}
)
FAILED_REASONS = frozenset({StopReason.NAN, StopReason.ERROR})
# nothing will change these runs by itself: following them can stop
TERMINAL_STATUSES = frozenset(
    {RunStatus.FINISHED, RunStatus.STOPPED, RunStatus.FAILED, RunStatus.INTERRUPTED, RunStatus.DAMAGED}
)
# statuses whose reason says what to do next
EXPLAINED_STATUSES = frozenset({RunStatus.STALLED, RunStatus.INTERRUPTED, RunStatus.FAILED, RunStatus.DAMAGED})


def status_for(reason: str | None) -> RunStatus:
    """The status a run is left in when training ends for ``reason``."""
    if reason in FINISHED_REASONS:
        return RunStatus.FINISHED
    if reason in FAILED_REASONS:
        return RunStatus.FAILED
    return RunStatus.STOPPED
