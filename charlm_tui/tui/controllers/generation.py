"""The generation controller and its settings: which run and weights to sample from, how long,
how fast a stream is drawn, and the live SamplingControl the sampler reads before every character;
the worker that streams a continuation, batched every GEN_FLUSH_S."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from charlm_tui.core.config import SamplingControl
from charlm_tui.core.errors import CharLMError
from charlm_tui.tui.controllers.base import Controller
from charlm_tui.tui.messages import Generated, StreamChars, StreamEnded, StreamStarted

if TYPE_CHECKING:
    from charlm_tui.tui.app import CharLMApp

GEN_FLUSH_S = 0.04  # generated characters are posted in batches this often
# Stream speeds in chars/s (0: as fast as the model goes). A paced stream reads as typing and
# leaves time to steer it: the model itself makes thousands of characters a second.
PACES = (25, 50, 100, 200, 400, 800, 1600, 0)
DEFAULT_PACE = 400
LENGTHS = (100, 20_000)  # the shortest and longest continuation


@dataclass
class GenerationSettings:
    """What the next stream samples from and how; the stream in progress reads ``pace`` and
    ``control`` before every character, so a change applies at once."""

    run_id: str | None = None
    weights: str = "best"
    length: int = 500
    pace: int = DEFAULT_PACE  # chars/s of a stream on screen; 0 = unpaced
    control: SamplingControl = field(default_factory=lambda: SamplingControl(temperature=0.8))

    def change_length(self, delta: int) -> None:
        self.length = max(LENGTHS[0], min(LENGTHS[1], self.length + delta))

    def change_pace(self, step: int) -> None:
        i = PACES.index(self.pace) if self.pace in PACES else PACES.index(DEFAULT_PACE)
        self.pace = PACES[max(0, min(len(PACES) - 1, i + step))]

    def change_temperature(self, delta: float) -> None:
        self.control.set_temperature(round(self.control.temperature + delta, 2))

    def change_top_k(self, delta: int) -> None:
        self.control.top_k = max(0, (self.control.top_k or 0) + delta) or None


class GenerationController(Controller):
    def __init__(self, app: CharLMApp):
        super().__init__(app)
        self.settings = GenerationSettings()
        self.streaming = False
        self._stop = threading.Event()
        self._stream_id = 0
        self._models: dict = {}

    def start(self, prompt: str) -> bool:
        s = self.settings
        if s.run_id is None:
            self.app.notify("No run to sample from yet: train one first.", severity="warning")
            return False
        self.stop()
        self._stream_id += 1
        self._stop = stop = threading.Event()
        self.streaming = True
        stream_id, run_id, which, length = self._stream_id, s.run_id, s.weights, s.length
        self.app.run_worker(
            lambda: self._stream(stream_id, run_id, which, prompt, length, stop),
            thread=True,
            exclusive=True,
            group="generate",
            exit_on_error=False,
        )
        return True

    def stop(self) -> None:
        self._stop.set()

    def save_sample(self, text: str) -> Path | None:
        """Write the transcript into the selected run's samples/ folder; say where, or why not."""
        from charlm_tui.core.store.run_store import open_run

        app = self.app
        if not text.strip():
            app.notify("Nothing to save yet: generate some text first.", severity="warning")
            return None
        if self.settings.run_id is None:
            app.notify("No run selected to save the text with.", severity="warning")
            return None
        try:
            path = open_run(app.home, self.settings.run_id).save_sample(text)
        except (CharLMError, OSError) as e:
            app.notify(f"Could not save the text: {e}", severity="error", timeout=10)
            return None
        app.notify(f"Saved {len(text):,} characters to {path}", title="Generate", timeout=8)
        return path

    def load_model(self, run_id: str, which: str):
        """(model, vocab) of a run's weights, kept in memory until other weights are asked for. In a
        worker thread."""
        from charlm_tui.core.store.run_store import open_run

        app = self.app
        run = open_run(app.home, run_id)
        if which == "best" and not run.has_weights("best") and run.has_weights("last"):
            # stopped before its first evaluation: the last weights are all there is (the w key
            # cannot reach the screen while the prompt box has the focus)
            which = "last"
            app.call_from_thread(
                app.notify, f"{run_id} has no evaluated weights yet: sampling from its last weights.", title="Generate"
            )
        key = (run_id, which, run.weights_version(which))
        if key not in self._models:
            self._models = {key: run.load_model(which)}  # keep one model in memory
        return self._models[key]

    def _stream(
        self, stream_id: int, run_id: str, which: str, prompt: str, length: int, stop: threading.Event
    ) -> None:  # in a worker thread
        from charlm_tui.core.model.sampling import check_prompt, generate

        app = self.app
        try:
            check_prompt(prompt)
            model, vocab = self.load_model(run_id, which)
        except CharLMError as e:
            app.post_message(Generated(stream_id, [], done=True))
            app.call_from_thread(app.notify, str(e), severity="error", title="Generate", timeout=10)
            return
        enc = vocab.encode_prompt(prompt)
        app.call_from_thread(self._started, stream_id, prompt, set(enc.unknown), enc.unknown_count)
        buf: list = []
        last = due = app.clock()
        try:
            for s in generate(model, vocab, prompt, length, self.settings.control, stop_event=stop):
                buf.append((s.char, s.prob))
                now = app.clock()
                if now - last >= GEN_FLUSH_S:
                    app.post_message(Generated(stream_id, buf))
                    buf, last = [], now
                pace = self.settings.pace  # read every character: a change applies at once
                if pace:
                    due = max(due + 1.0 / pace, now - 0.1)  # after a stall, resume the pace, do not burst
                    if due > now and stop.wait(due - now):
                        break
        except CharLMError as e:
            app.call_from_thread(app.notify, str(e), severity="error", title="Generate")
        finally:
            app.post_message(Generated(stream_id, buf, done=True))

    def _started(self, stream_id: int, prompt: str, unknown: set, count: int) -> None:
        if stream_id != self._stream_id:
            return
        self.tell("generate", StreamStarted(prompt, unknown))
        if count:
            chars = " ".join(repr(c) for c in sorted(unknown))
            self.app.notify(
                f"{count} prompt character(s) the model never saw were replaced: {chars}", severity="warning"
            )

    def on_generated(self, msg: Generated) -> None:
        if msg.stream_id != self._stream_id:
            return
        if msg.chars:
            self.tell("generate", StreamChars(msg.chars))
        if msg.done:
            self.streaming = False
            self.tell("generate", StreamEnded("stopped" if self._stop.is_set() else None))
