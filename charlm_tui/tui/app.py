"""CharLMApp: the screens (as modes), and the workers that train and generate.

The app's actions live in feature mixins (corpus_actions, training_actions, generation_actions);
this module has the App itself: screens, keys, palette, runs helpers, quitting, and run_app.
Workers run in threads started from the App, so changing screens never cancels them. They talk
to the UI only with post_message; the UI talks to them with threading.Events and the mutable
SamplingControl. Torch is imported inside workers, never on the start-up path.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding

from charlm_tui.core.config import DEFAULT_CORPUS, PRESETS, SamplingControl, TrainConfig
from charlm_tui.core.errors import CharLMError
from charlm_tui.tui.corpus_actions import CorpusActions
from charlm_tui.tui.generation_actions import DEFAULT_PACE, GenerationActions
from charlm_tui.tui.screens.corpus import CorpusScreen
from charlm_tui.tui.screens.help import ConfirmScreen, HelpScreen
from charlm_tui.tui.training_actions import TrainingActions, TrainState


def _lazy_screen(module: str, cls: str):
    """A screen factory that imports its module when the screen is first shown (faster first paint)."""

    def make():
        import importlib

        return getattr(importlib.import_module(f"charlm_tui.tui.screens.{module}"), cls)()

    return make


class CharLMApp(CorpusActions, TrainingActions, GenerationActions, App):
    CSS_PATH = "app.tcss"
    TITLE = "charlm-tui"
    SCREENS = {
        "corpus": CorpusScreen,
        "configure": _lazy_screen("configure", "ConfigureScreen"),
        "train": _lazy_screen("train", "TrainScreen"),
        "generate": _lazy_screen("generate", "GenerateScreen"),
        "runs": _lazy_screen("runs", "RunsScreen"),
    }
    MODES = {name: name for name in SCREENS}
    # the screen keys are one item in the footer ("12345 Screens"): five of them did not fit at 80
    # columns beside a screen's own keys; ? lists them
    _SCREENS = Binding.Group("Screens", compact=True)
    BINDINGS = [
        Binding("1", "mode('corpus')", "Corpus", group=_SCREENS),
        Binding("2", "mode('configure')", "Configure", group=_SCREENS),
        Binding("3", "mode('train')", "Train", group=_SCREENS),
        Binding("4", "mode('generate')", "Generate", group=_SCREENS),
        Binding("5", "mode('runs')", "Runs", group=_SCREENS),
        # F-keys reach the app even while a text input has the focus
        Binding("f1", "help", "Help", show=False, priority=True),
        Binding("f2", "mode('corpus')", "Corpus", show=False, priority=True),
        Binding("f3", "mode('configure')", "Configure", show=False, priority=True),
        Binding("f4", "mode('train')", "Train", show=False, priority=True),
        Binding("f5", "mode('generate')", "Generate", show=False, priority=True),
        Binding("f6", "mode('runs')", "Runs", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, home: Path, corpus_spec: str | None = None, clock=time.monotonic):
        super().__init__()
        self.home = Path(home)
        self.clock = clock
        self.corpus_spec: str = corpus_spec or DEFAULT_CORPUS
        self.corpus = None
        self._corpus_cache: dict[str, object] = {}
        mk, tk = PRESETS["default"]
        self.model_kw: dict = dict(mk)
        self.train_config = TrainConfig(**tk)
        self.measured_flops: float = 1.6e11
        self.job = None
        self.train_state = TrainState()
        self._last_chart = 0.0
        self._chart_timer = None
        self.control = SamplingControl(temperature=0.8)
        self.gen_run_id: str | None = None
        self.gen_weights = "best"
        self.gen_length = 500
        self.gen_pace = DEFAULT_PACE  # chars/s of a stream on screen; 0 = unpaced
        self.streaming = False
        self._gen_stop = threading.Event()
        self._stream_id = 0
        self._models: dict = {}
        self._quitting = False
        self._train_done = threading.Event()
        self.attached = None  # a Run trained by another process that the Train screen follows
        self._attach_offset = 0
        self._attach_timer = None

    # ------------------------------------------------------------------ start-up and navigation
    def on_mount(self) -> None:
        import asyncio

        self.event_loop = asyncio.get_running_loop()  # for the SIGHUP handler
        self.sub_title = str(self.home)
        self.switch_mode("corpus")

    def action_mode(self, name: str) -> None:
        if self.current_mode != name:
            self.switch_mode(name)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        for key, title in (
            ("corpus", "Corpus"),
            ("configure", "Configure"),
            ("train", "Train"),
            ("generate", "Generate"),
            ("runs", "Runs"),
        ):
            yield SystemCommand(f"Go to {title}", f"Show the {title} screen", lambda k=key: self.switch_mode(k))
        yield SystemCommand(
            "Start training", "Train on the selected corpus with the configured settings", self.start_training
        )
        yield SystemCommand("Pause or resume training", "Toggle pause of the running training", self.toggle_pause)
        yield SystemCommand("Stop training", "Stop the running training and save it", self.stop_training)
        yield SystemCommand("Sample now", "Stream a short sample from the current best weights", self.sample_now)
        yield SystemCommand("Stop generation", "Stop the running text stream", self.stop_generation)
        yield SystemCommand("Help", "Keys and screens", self.action_help)

    # ------------------------------------------------------------------ runs
    # core.runs / run_store (and catalog, corpus) are imported when first needed, after the first paint
    def list_runs(self):
        from charlm_tui.core.store.run_store import list_runs

        try:
            return list_runs(self.home)
        except OSError as e:
            self.notify(f"cannot read runs: {e}", severity="error")
            return []

    def run_metrics(self, run_id: str) -> list[dict]:
        from charlm_tui.core.store.run_store import open_run

        try:
            return open_run(self.home, run_id).metrics()
        except CharLMError:
            return []

    def delete_run(self, run_id: str) -> None:
        from charlm_tui.core.store.run_store import delete_run

        try:
            delete_run(self.home, run_id)
            self.notify(f"Deleted {run_id}")
        except CharLMError as e:
            self.notify(str(e), severity="error")

    def rename_run(self, run_id: str, new: str) -> None:
        from charlm_tui.core.store.run_store import rename_run

        try:
            rename_run(self.home, run_id, new)
            if self.gen_run_id == run_id:
                self.gen_run_id = new
            self.notify(f"Renamed to {new}")
        except CharLMError as e:
            self.notify(str(e), severity="error")

    # ------------------------------------------------------------------ quitting
    async def action_quit(self) -> None:
        if not self.training:
            self._shutdown_workers()
            self.exit()
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self._quitting = True
                self.job.trainer.request_stop("quit")
                self.set_interval(0.05, self._exit_when_stopped)

        self.push_screen(ConfirmScreen("Training is running. Stop it (its state is saved) and quit?"), answer)

    def on_exit_app(self) -> None:
        """Every way out passes here. q asks and stops training first; anything else that ends the app
        while it trains (the browser tab closed under 'serve', the web driver's SIGTERM) is the
        user going away: save and stop with reason hangup, as for an SSH hang-up. Textual waits for
        the training thread before it returns, so nothing else would ever stop it."""
        if self.training and not self._quitting:
            self.request_hangup_stop("hangup")

    def _exit_when_stopped(self) -> None:
        if not any(w.group == "train" and w.is_running for w in self.workers):
            self._shutdown_workers()
            self.exit()

    def _shutdown_workers(self) -> None:
        self._gen_stop.set()
        if self.job is not None:
            self.job.trainer.request_stop("quit")

    def request_hangup_stop(self, reason: str = "hangup") -> None:
        """Terminal gone (SIGHUP) or told to end (SIGTERM): stop training with that reason so the run
        is saved and resumable."""
        self._quitting = True
        self._gen_stop.set()
        if self.job is not None:
            self.job.trainer.request_stop(reason)


def make_app(home: Path, corpus_spec: str | None = None, **kw) -> CharLMApp:
    """The app factory that the CLI and the tests share."""
    return CharLMApp(home, corpus_spec, **kw)


def run_app(home: Path, mouse: bool = True) -> int:
    import signal

    app = make_app(home)

    def on_hangup(*_):
        # The terminal is gone: stop training (it saves and marks the run "hangup"), then leave.
        # Textual's output thread can deadlock on a vanished terminal during shutdown, so after
        # the run is safe and a moment for a clean exit, the process ends itself.
        app.request_hangup_stop()

        def finish() -> None:
            if app.job is not None:
                app._train_done.wait(timeout=30)
            time.sleep(1.0)
            os._exit(0)

        threading.Thread(target=finish, name="hangup-exit", daemon=True).start()
        loop = getattr(app, "event_loop", None)
        if loop is not None:
            loop.call_soon_threadsafe(app.exit)

    def on_terminate(*_):
        # SIGTERM: the terminal is still there, so leave the normal way (the screen and mouse mode are
        # restored) once training has stopped and saved; a watchdog ends the process if that hangs.
        app.request_hangup_stop("terminated")

        def watchdog() -> None:
            time.sleep(45)
            os._exit(143)

        threading.Thread(target=watchdog, name="terminate-watchdog", daemon=True).start()
        loop = getattr(app, "event_loop", None)
        if loop is not None:
            loop.call_soon_threadsafe(app.exit)

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_hangup)
    signal.signal(signal.SIGTERM, on_terminate)
    app.run(mouse=mouse)
    # never leave a training thread behind: it stops within one step and saves its state
    app._shutdown_workers()
    if app.job is not None:
        app._train_done.wait(timeout=30)
    return 0
