"""The generation controller and its settings: which run and weights to sample from, how long,
how fast a stream is drawn, and the live SamplingControl the sampler reads before every character;
the worker that streams a continuation, batched every GEN_FLUSH_S."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from charlm_tui.core.config import (
    MAX_BEST_OF,
    MAX_SEED,
    SamplingControl,
    new_seed,
    stop_from_text,
    stop_to_text,
)
from charlm_tui.core.errors import CharLMError, ConfigError
from charlm_tui.core.settings import parse_text
from charlm_tui.tui.controllers.base import Controller
from charlm_tui.tui.messages import BestOfFound, BestOfReady, Generated, StreamChars, StreamEnded, StreamStarted

if TYPE_CHECKING:
    from charlm_tui.tui.app import CharLMApp

GEN_FLUSH_S = 0.04  # generated characters are posted in batches this often
# Stream speeds in chars/s (0: as fast as the model goes). A paced stream reads as typing and
# leaves time to steer it: the model itself makes thousands of characters a second.
PACES = (25, 50, 100, 200, 400, 800, 1600, 0)
DEFAULT_PACE = 400
LENGTHS = (100, 20_000)  # the shortest and longest continuation
# the values PgUp/PgDn walk through (a typed value in between is kept and walked from)
TOP_KS = (0, 1, 2, 3, 4, 5, 8, 10, 15, 20, 30, 40, 60)
TOP_PS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 1.0)
MIN_PS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
PENALTIES = (1.0, 1.05, 1.1, 1.15, 1.2, 1.3, 1.5, 2.0, 3.0)
WINDOWS = (8, 16, 32, 64, 128, 256, 512, 1024)
BEST_OF = (2, 3, 4, 6, 8, 12, 16)
STOPS: tuple[tuple[str, ...], ...] = ((), ("\n\n",), ("\n",))  # off, a blank line, end of line

# what PgUp/PgDn change, in the order ctrl+n / F8 walk them: (name, label)
SETTINGS = (
    ("temperature", "temp"),
    ("top_k", "top-k"),
    ("top_p", "top-p"),
    ("min_p", "min-p"),
    ("penalty", "penalty"),
    ("window", "window"),
    ("stop", "stop"),
    ("seed", "seed"),
    ("length", "length"),
    ("pace", "speed"),
    ("best_of", "best-of"),
    ("confidence", "colours"),
    ("weights", "weights"),
)


# the settings line's names of the sampling controls, and their fields
CONTROL_FIELDS = {
    "temperature": "temperature",
    "top_k": "top_k",
    "top_p": "top_p",
    "min_p": "min_p",
    "penalty": "repetition_penalty",
    "window": "repetition_window",
}


def _walk(ladder: tuple, value, step: int):
    """The next value along ``ladder`` from ``value`` (which may lie between two of its values)."""
    if step > 0:
        return next((v for v in ladder if v > value), ladder[-1])
    return next((v for v in reversed(ladder) if v < value), ladder[0])


@dataclass
class GenerationSettings:
    """What the next stream samples from and how; the stream in progress reads ``pace`` and
    ``control`` before every character, so a change applies at once. ``selected`` is the setting
    PgUp/PgDn change; ``seed`` None means a new seed for every stream (``last_seed`` says which)."""

    run_id: str | None = None
    weights: str = "best"
    length: int = 500
    pace: int = DEFAULT_PACE  # chars/s of a stream on screen; 0 = unpaced
    control: SamplingControl = field(default_factory=lambda: SamplingControl(temperature=0.8))
    seed: int | None = None
    last_seed: int | None = None
    best_of: int = 4
    confidence: bool = False
    selected: str = "temperature"

    def change_length(self, delta: int) -> None:
        self.length = max(LENGTHS[0], min(LENGTHS[1], self.length + delta))

    def change_pace(self, step: int) -> None:
        i = PACES.index(self.pace) if self.pace in PACES else PACES.index(DEFAULT_PACE)
        self.pace = PACES[max(0, min(len(PACES) - 1, i + step))]

    def change_temperature(self, delta: float) -> None:
        self.control.set_temperature(round(self.control.temperature + delta, 2))

    def change_top_k(self, delta: int) -> None:
        self.control.top_k = max(0, (self.control.top_k or 0) + delta) or None

    def select(self, step: int) -> None:
        names = [n for n, _ in SETTINGS]
        self.selected = names[(names.index(self.selected) + step) % len(names)]

    def change(self, step: int, name: str | None = None) -> None:
        """Move setting ``name`` (the selected one) one notch up (step > 0) or down."""
        name = name or self.selected
        c = self.control
        if name == "temperature":
            self.change_temperature(0.1 * step)
        elif name == "top_k":
            c.top_k = _walk(TOP_KS, c.top_k or 0, step) or None
        elif name == "top_p":
            c.top_p = _walk(TOP_PS, c.top_p, step)
        elif name == "min_p":
            c.min_p = _walk(MIN_PS, c.min_p, step)
        elif name == "penalty":
            c.repetition_penalty = _walk(PENALTIES, c.repetition_penalty, step)
        elif name == "window":
            c.repetition_window = _walk(WINDOWS, c.repetition_window, step)
        elif name == "stop":
            i = STOPS.index(c.stop) if c.stop in STOPS else -1  # a typed one: walk back into the presets
            c.stop = STOPS[max(0, min(len(STOPS) - 1, i + step))] if i >= 0 else STOPS[0]
        elif name == "seed":
            if self.seed is None:  # up: keep the seed of the text on screen; down: stays new each time
                self.seed = (self.last_seed or 0) if step > 0 else None
            else:
                self.seed = None if self.seed + step < 0 else self.seed + step
        elif name == "length":
            self.change_length(100 * step)
        elif name == "pace":
            self.change_pace(step)
        elif name == "best_of":
            self.best_of = _walk(BEST_OF, self.best_of, step)
        elif name == "confidence":
            self.confidence = not self.confidence
        elif name == "weights":
            self.weights = "last" if self.weights == "best" else "best"

    def set_text(self, text: str, name: str | None = None) -> str | None:
        """Set setting ``name`` (the selected one) from typed text; return why not, or None."""
        name = name or self.selected
        c = self.control
        text = text.strip()
        try:
            if name == "stop":  # several, separated by |; \n is a newline; empty: none
                c.stop = tuple(stop_from_text(t.strip()) for t in text.split("|") if t.strip())
                SamplingControl(stop=c.stop).check()
                return None
            if name == "seed":
                seed = None if text in ("", "random", "new") else int(text)
                if seed is not None and not 0 <= seed <= MAX_SEED:
                    raise ValueError
                self.seed = seed
                return None
            if name in ("confidence", "weights"):
                return "this one has two values: PgUp/PgDn switch it"
            if name in CONTROL_FIELDS:  # a sampling control: core's parsing and bounds (core.settings)
                attr = CONTROL_FIELDS[name]
                value = parse_text(SamplingControl, attr, text)
                setattr(c, attr, (value or None) if attr == "top_k" else value)
                return None
            value = float(text)
            if name == "length":
                if value != int(value) or not LENGTHS[0] <= value <= LENGTHS[1]:
                    return f"the length is {LENGTHS[0]:,} to {LENGTHS[1]:,} characters"
                self.length = int(value)
            elif name == "pace":
                if value != int(value) or value < 0:
                    return "the speed is characters a second, 0 for as fast as it goes"
                self.pace = int(value)
            elif name == "best_of":
                if value != int(value) or not 1 <= value <= MAX_BEST_OF:
                    return f"best-of is 1 to {MAX_BEST_OF}"
                self.best_of = int(value)
        except ValueError:
            return f"not a value for {dict(SETTINGS)[name]}: {text!r}"
        except ConfigError as e:
            return str(e)
        return None

    def shown(self) -> list[tuple[str, str, str]]:
        """(name, label, value) of every setting, as the settings line shows them."""
        c = self.control
        stop = " | ".join(stop_to_text(s) for s in c.stop) if c.stop else "off"
        if self.seed is not None:
            seed = f"{self.seed}"
        else:
            seed = "new" + (f" (last {self.last_seed})" if self.last_seed is not None else "")
        values = {
            "temperature": f"{c.temperature:.2f}",
            "top_k": f"{c.top_k or 'off'}",
            "top_p": "off" if c.top_p >= 1.0 else f"{c.top_p:g}",
            "min_p": "off" if c.min_p <= 0.0 else f"{c.min_p:g}",
            "penalty": "off" if c.repetition_penalty <= 1.0 else f"{c.repetition_penalty:g}",
            "window": f"{c.repetition_window}",
            "stop": stop,
            "seed": seed,
            "length": f"{self.length}",
            "pace": f"{self.pace}/s" if self.pace else "max",
            "best_of": f"{self.best_of}",
            "confidence": "on" if self.confidence else "off",
            "weights": self.weights,
        }
        return [(name, label, values[name]) for name, label in SETTINGS]

    def seed_for_stream(self) -> int:
        """The seed of the next stream (a new one unless fixed), remembered for 'same again'."""
        self.last_seed = self.seed if self.seed is not None else new_seed()
        return self.last_seed


class GenerationController(Controller):
    def __init__(self, app: CharLMApp):
        super().__init__(app)
        self.settings = GenerationSettings()
        self.streaming = False
        self._stop = threading.Event()
        self._stream_id = 0
        self._models: dict = {}
        self.last_prompt: str | None = None

    def start(self, prompt: str, seed: int | None = None) -> bool:
        """Stream a continuation of ``prompt`` (with ``seed``: that seed, for 'same again')."""
        begun = self._begin(prompt, seed)
        if begun is None:
            return False
        stream_id, stop, seed = begun
        s = self.settings
        run_id, which, length = s.run_id, s.weights, s.length
        assert run_id is not None
        self._launch(lambda: self._stream(stream_id, run_id, which, prompt, length, seed, stop))
        return True

    def again(self) -> bool:
        """The last prompt again with the last seed, under the settings as they are now."""
        if self.last_prompt is None or self.settings.last_seed is None:
            self.app.notify("Nothing to repeat yet: send a prompt first.", severity="warning")
            return False
        return self.start(self.last_prompt, self.settings.last_seed)

    def start_best_of(self, prompt: str) -> bool:
        """Draw settings.best_of continuations of ``prompt`` side by side; the screen is told
        (BestOfFound) with them ranked, to pick one."""
        begun = self._begin(prompt, None)
        if begun is None:
            return False
        stream_id, stop, seed = begun
        s = self.settings
        run_id, which, length, n = s.run_id, s.weights, s.length, s.best_of
        control = replace(s.control)  # the settings now: a batch is not steered as it goes
        self._launch(lambda: self._best_of(stream_id, run_id, which, prompt, n, length, control, seed, stop))
        return True

    def _begin(self, prompt: str, seed: int | None) -> tuple[int, threading.Event, int] | None:
        """Stop what runs and start a new stream id: (stream id, its stop event, its seed), or
        None (said why) when there is no run to sample from."""
        s = self.settings
        if s.run_id is None:
            self.app.notify("No run to sample from yet: train one first.", severity="warning")
            return None
        self.stop()
        self._stream_id += 1
        self._stop = threading.Event()
        self.streaming = True
        if seed is None:
            seed = s.seed_for_stream()
        else:
            s.last_seed = seed
        self.last_prompt = prompt
        return self._stream_id, self._stop, seed

    def _launch(self, work) -> None:
        self.app.run_worker(work, thread=True, exclusive=True, group="generate", exit_on_error=False)

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
        self, stream_id: int, run_id: str, which: str, prompt: str, length: int, seed: int, stop: threading.Event
    ) -> None:  # in a worker thread
        from charlm_tui.core.model.sampling import check_prompt, generate

        app = self.app
        try:
            check_prompt(prompt)
            model, vocab = self.load_model(run_id, which)
        except Exception as e:  # any failure ends the stream with a message, never a silent hang
            app.post_message(Generated(stream_id, [], done=True))
            app.call_from_thread(app.notify, failure_text(e), severity="error", title="Generate", timeout=10)
            return
        enc = vocab.encode_prompt(prompt)
        app.call_from_thread(self._started, stream_id, prompt, set(enc.unknown), enc.unknown_count)
        buf: list = []
        last = due = app.clock()
        count, failed = 0, False
        try:
            for s in generate(model, vocab, prompt, length, self.settings.control, seed, stop):
                count += 1
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
        except Exception as e:
            failed = True
            app.call_from_thread(app.notify, failure_text(e), severity="error", title="Generate")
        finally:
            note = "stop string" if count < length and not (failed or stop.is_set()) else None
            app.post_message(Generated(stream_id, buf, done=True, note=note))

    def _best_of(self, stream_id, run_id, which, prompt, n, length, control, seed, stop) -> None:  # in a worker
        from charlm_tui.core.model.sampling import best_of, check_prompt

        app = self.app
        found: list = []
        try:
            check_prompt(prompt)
            model, vocab = self.load_model(run_id, which)
            enc = vocab.encode_prompt(prompt)
            t0 = app.clock()
            found = best_of(model, vocab, prompt, n, length, control, seed, stop)
            seconds = app.clock() - t0
        except Exception as e:
            app.call_from_thread(app.notify, failure_text(e), severity="error", title="Generate", timeout=10)
        finally:
            app.post_message(Generated(stream_id, [], done=True))
        if found and not stop.is_set():
            app.post_message(BestOfReady(stream_id, prompt, set(enc.unknown), found, seed, seconds))

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
            self.tell("generate", StreamEnded("stopped" if self._stop.is_set() else msg.note))

    def on_best_of_ready(self, msg: BestOfReady) -> None:
        if msg.stream_id == self._stream_id:
            self.tell("generate", BestOfFound(msg))


def failure_text(e: Exception) -> str:
    """What a failed load or stream tells the user: our own errors as they are, anything else
    (an allocation failure, a torch error) with its type, so the stream never just stops."""
    if isinstance(e, CharLMError):
        return str(e)
    if isinstance(e, MemoryError):
        return "not enough memory to load or run this model"
    return f"sampling failed: {type(e).__name__}: {e}"
