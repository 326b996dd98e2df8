"""CharLMApp: the screens (as modes), keys, the command palette, quitting, and run_app.

The app's state lives in controllers (tui/controllers/): the corpus picker, the training
controller, the generation controller and the run library. Workers run in threads started from
the App, so changing screens never cancels them. They talk to the UI only by message; the UI talks
to them with threading.Events and the mutable SamplingControl. Torch is imported inside workers,
never on the start-up path.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.widgets import Input

from charlm_tui.tui import terminal_guard
from charlm_tui.tui.controllers.corpus_picker import CorpusPicker
from charlm_tui.tui.controllers.generation import GenerationController
from charlm_tui.tui.controllers.runs import RunLibrary
from charlm_tui.tui.controllers.training import TrainingController
from charlm_tui.tui.messages import (
    BestOfReady,
    CorpusLoaded,
    CorpusProgress,
    CorpusReferencesReady,
    FitDone,
    Generated,
    RunReferencesReady,
    TrainFailed,
    TrainUpdate,
)
from charlm_tui.tui.screens.corpus import CorpusScreen
from charlm_tui.tui.screens.dialogs import ConfirmScreen
from charlm_tui.tui.screens.help import HelpScreen


def _lazy_screen(module: str, cls: str):
    """A screen factory that imports its module when the screen is first shown (faster first paint)."""

    path = f"charlm_tui.tui.screens.{module}"

    def make():
        import importlib

        return getattr(importlib.import_module(path), cls)()

    make.screen_path = (path, cls)  # type: ignore[attr-defined]  # the help reads the class without making one
    return make


TYPED_ACTIONS = frozenset({"mode", "help", "quit"})  # bound to printable keys (their twins: jump, help_any, quit_any)


class CharLMApp(App):
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
        Binding("question_mark", "help", "Help", tooltip="this screen; ctrl+p opens the command palette"),
        # F-keys reach the app even while a text input has the focus
        # (their actions are other names for the same ones: check_action hides the printable keys'
        # actions while a text box has the focus, and the F-keys must stay on)
        Binding("f1", "help_any", "Help", show=False, priority=True),
        Binding("f2", "jump('corpus')", "Corpus", show=False, priority=True),
        Binding("f3", "jump('configure')", "Configure", show=False, priority=True),
        Binding("f4", "jump('train')", "Train", show=False, priority=True),
        Binding("f5", "jump('generate')", "Generate", show=False, priority=True),
        Binding("f6", "jump('runs')", "Runs", show=False, priority=True),
        Binding("q", "quit", "Quit", tooltip="asks first while a run is training (its state is saved)"),
        Binding("ctrl+q", "quit_any", "Quit", show=False, priority=True),
        # Tab moves the focus before the next key is handed on: as Textual's ordinary binding it ran
        # only once the key had bubbled up from the focused box, so in a burst of keys (a slow SSH
        # link, a fast typist) the characters after the Tabs went into a box the Tabs had left
        Binding("tab", "app.focus_next", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", show=False, priority=True),
    ]

    def __init__(self, home: Path, corpus_spec: str | None = None, clock=time.monotonic):
        terminal_guard.install()  # nothing drawn acts on the terminal (an ESC in a corpus, a model's output)
        super().__init__()
        self.home = Path(home)
        self.clock = clock
        self.corpora = CorpusPicker(self, corpus_spec)
        self.training = TrainingController(self)
        self.generation = GenerationController(self)
        self.runs = RunLibrary(self)

    def notify(self, message: str, *, markup: bool = False, **kw) -> None:
        """A toast whose text is shown as it is: its messages carry paths, corpus names and errors
        from outside, and Textual would read ``[...]`` in them as markup (``a[/]b`` in a typed
        path raised MarkupError and closed the app)."""
        super().notify(message, markup=markup, **kw)

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
        self.push_screen(HelpScreen(self.home))

    def action_jump(self, name: str) -> None:
        self.action_mode(name)

    def action_help_any(self) -> None:
        self.action_help()

    async def action_quit_any(self) -> None:
        await self.action_quit()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """A key that types a character (the digits, ?, q) types it into a focused text box instead:
        the Footer must not offer it then (its F-key / ctrl twin still works)."""
        if action in TYPED_ACTIONS and isinstance(self.focused, Input):
            return False
        return True

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
        training = self.training
        yield SystemCommand(
            "Start training", "Train on the selected corpus with the configured settings", training.start
        )
        yield SystemCommand("Pause or resume training", "Toggle pause of the running training", training.toggle_pause)
        yield SystemCommand("Stop training", "Stop the running training and save it", training.stop)
        yield SystemCommand("Sample now", "Stream a short sample from the current best weights", training.sample_now)
        yield SystemCommand("Stop generation", "Stop the running text stream", self.generation.stop)
        yield SystemCommand("Help", "Keys and screens", self.action_help)

    # ------------------------------------------------------------------ worker messages, to their controllers
    def on_train_update(self, msg: TrainUpdate) -> None:
        self.training.on_event(msg.event)

    def on_train_failed(self, msg: TrainFailed) -> None:
        self.training.on_failed(msg.error)

    def on_generated(self, msg: Generated) -> None:
        self.generation.on_generated(msg)

    def on_best_of_ready(self, msg: BestOfReady) -> None:
        self.generation.on_best_of_ready(msg)

    def on_corpus_progress(self, msg: CorpusProgress) -> None:
        self.corpora.on_progress(msg)

    def on_corpus_loaded(self, msg: CorpusLoaded) -> None:
        self.corpora.on_loaded(msg)

    def on_fit_done(self, msg: FitDone) -> None:
        self.training.on_fit_done(msg)

    def on_corpus_references_ready(self, msg: CorpusReferencesReady) -> None:
        self.corpora.on_references(msg)

    def on_run_references_ready(self, msg: RunReferencesReady) -> None:
        self.runs.on_references(msg)

    # ------------------------------------------------------------------ quitting
    async def action_quit(self) -> None:
        if not self.training.training:
            self._shutdown_workers()
            self.exit()
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.training.quitting = True
                self.training.request_stop("quit")
                self.set_interval(0.05, self._exit_when_stopped)

        self.push_screen(ConfirmScreen("Training is running. Stop it (its state is saved) and quit?"), answer)

    def on_exit_app(self) -> None:
        """Every way out passes here. q asks and stops training first; anything else that ends the app
        while it trains (the browser tab closed under 'serve', the web driver's SIGTERM) is the
        user going away: save and stop with reason hangup, as for an SSH hang-up. Textual waits for
        the training thread before it returns, so nothing else would ever stop it."""
        if self.training.training and not self.training.quitting:
            self.request_hangup_stop("hangup")

    def _exit_when_stopped(self) -> None:
        if not any(w.group == "train" and w.is_running for w in self.workers):
            self._shutdown_workers()
            self.exit()

    def _shutdown_workers(self) -> None:
        self.generation.stop()
        self.training.request_stop("quit")

    def request_hangup_stop(self, reason: str = "hangup") -> None:
        """Terminal gone (SIGHUP) or told to end (SIGTERM): stop training with that reason so the run
        is saved and resumable."""
        self.training.quitting = True
        self.generation.stop()
        self.training.request_stop(reason)


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
            if app.training.job is not None:
                app.training.done.wait(timeout=30)
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
    if app.training.job is not None:
        app.training.done.wait(timeout=30)
    return 0
