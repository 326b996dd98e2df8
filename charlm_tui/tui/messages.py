"""Textual Messages that carry core events from worker threads to the UI (via post_message)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class TrainUpdate(Message):
    event: object  # charlm_tui.core.config.TrainEvent


@dataclass
class TrainFailed(Message):
    error: str


@dataclass
class Generated(Message):
    """A batch of generated characters with the probability the model gave each."""

    stream_id: int
    chars: list  # [(char, prob)]
    done: bool = False


@dataclass
class CorpusLoaded(Message):
    spec: str
    corpus: object | None  # charlm_tui.core.data.corpus.Corpus
    error: str | None = None


@dataclass
class CorpusProgress(Message):
    spec: str
    phase: str
    fraction: float
