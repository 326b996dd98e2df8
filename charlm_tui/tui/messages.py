"""Textual Messages that carry core events from worker threads to the UI (via post_message)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from charlm_tui.core.config import TrainEvent
    from charlm_tui.core.data.corpus import Corpus
    from charlm_tui.core.sizing import Choice


@dataclass
class TrainUpdate(Message):
    event: TrainEvent


@dataclass
class TrainFailed(Message):
    error: str


@dataclass
class Generated(Message):
    """A batch of generated characters with the probability the model gave each."""

    stream_id: int
    chars: list  # [(char, prob)]
    done: bool = False
    note: str | None = None  # why it ended, when not the length or the user ("stop string")


@dataclass
class BestOfReady(Message):
    """Best-of-N's continuations, ranked best first (worker -> controller -> Generate screen)."""

    stream_id: int
    prompt: str
    unknown: set
    candidates: list  # [Candidate]
    seed: int
    seconds: float


@dataclass
class RunReferencesReady(Message):
    """A run's reference figures (None: none to be had), computed or read in a worker."""

    run_id: str
    references: object  # References | None


@dataclass
class CorpusReferencesReady(Message):
    sha256: str
    val_fraction: float
    references: object  # References | None
    error: str | None = None


@dataclass
class CorpusLoaded(Message):
    spec: str
    corpus: Corpus | None
    error: str | None = None


@dataclass
class CorpusProgress(Message):
    spec: str
    phase: str
    fraction: float


# ---------------------------------------------------------------- from the app's controllers to screens
# A controller tells a screen what changed with one of these (posted only while the screen is
# mounted); the screen decides how to draw it.


@dataclass
class LiveRunChanged(Message):
    """The training controller's LiveRun changed: its progress and event log (``full``: everything,
    the title and charts too). The screen draws the LiveRun as it is when the message arrives, so
    a message that waited in the queue never draws anything twice."""

    full: bool = False


class ChartsDue(Message):
    """Time to redraw the Train screen's charts (at most every CHART_REDRAW_S)."""


@dataclass
class SampleChanged(Message):
    text: str


@dataclass
class StreamStarted(Message):
    prompt: str
    unknown: set


@dataclass
class StreamChars(Message):
    chars: list  # [(char, prob)]


@dataclass
class StreamEnded(Message):
    note: str | None = None


class ReferencesChanged(Message):
    """A run's reference figures arrived: redraw what shows them (the Runs screen)."""


@dataclass
class BestOfFound(Message):
    """Best-of-N's continuations are ready to pick from (the worker's BestOfReady, passed on)."""

    found: BestOfReady


@dataclass
class CorpusShown(Message):
    corpus: Corpus


@dataclass
class CorpusLoading(Message):
    spec: str
    detail: str = ""


@dataclass
class CorpusFailed(Message):
    spec: str
    error: str


@dataclass
class CorpusAdded(Message):
    name: str


@dataclass
class FitDone(Message):
    """Fit to budget's choice for the settings in ``key`` (worker -> app -> training controller)."""

    key: tuple
    choice: Choice | None
    error: str | None = None


@dataclass
class FitShown(Message):
    """The choice to show on the Configure screen (or why there is none)."""

    choice: Choice | None
    error: str | None = None
    busy: str | None = None  # what fitting is doing now, when it has not finished
