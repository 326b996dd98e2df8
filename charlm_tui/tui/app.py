"""CharLMApp: the screens (as modes), and the workers that train and generate.

Workers run in threads started from the App, so changing screens never cancels them. They talk
to the UI only with post_message; the UI talks to them with threading.Events and the mutable
SamplingControl. Torch is imported inside workers, never on the start-up path.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding

from charlm_tui.core.catalog import DEFAULT_CORPUS, CatalogEntry, list_catalog
from charlm_tui.core.config import FINISHED_REASONS, PRESETS, SamplingControl, TrainConfig, flops_per_char
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.runs import delete_run, list_runs, open_run, recent_corpus_specs, rename_run
from charlm_tui.tui.messages import CorpusLoaded, CorpusProgress, Generated, TrainFailed, TrainUpdate
from charlm_tui.tui.screens.corpus import CorpusScreen
from charlm_tui.tui.screens.help import ConfirmScreen, HelpScreen

GEN_FLUSH_S = 0.04      # generated characters are posted in batches this often
CHART_REDRAW_S = 2.0    # progress redraws of the charts at most this often (evals redraw at once)
UI_EVENT_INTERVAL_S = 0.5  # progress events from a training run in the app (the UI thread shares 2 cores)


def _lazy_screen(module: str, cls: str):
    """A screen factory that imports its module when the screen is first shown (faster first paint)."""
    def make():
        import importlib
        return getattr(importlib.import_module(f"charlm_tui.tui.screens.{module}"), cls)()
    return make


@dataclass
class TrainState:
    """What the Train screen shows; kept by the app so it survives screen switches."""
    run_id: str | None = None
    title: str = ""
    state: str = "idle"
    last: object | None = None
    train_x: list = field(default_factory=list)
    train_y: list = field(default_factory=list)
    val_x: list = field(default_factory=list)
    val_nll: list = field(default_factory=list)
    val_ppl: list = field(default_factory=list)
    lr_cuts: list = field(default_factory=list)
    log: list = field(default_factory=list)
    sample: str = ""
    chars_per_s: float | None = None


class CharLMApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "charlm-tui"
    SCREENS = {"corpus": CorpusScreen, "configure": _lazy_screen("configure", "ConfigureScreen"),
               "train": _lazy_screen("train", "TrainScreen"), "generate": _lazy_screen("generate", "GenerateScreen"),
               "runs": _lazy_screen("runs", "RunsScreen")}
    MODES = {name: name for name in SCREENS}
    BINDINGS = [
        Binding("1", "mode('corpus')", "Corpus"),
        Binding("2", "mode('configure')", "Configure"),
        Binding("3", "mode('train')", "Train"),
        Binding("4", "mode('generate')", "Generate"),
        Binding("5", "mode('runs')", "Runs"),
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
        self.control = SamplingControl(temperature=0.8)
        self.gen_run_id: str | None = None
        self.gen_weights = "best"
        self.gen_length = 500
        self.streaming = False
        self._gen_stop = threading.Event()
        self._stream_id = 0
        self._models: dict = {}
        self._quitting = False
        self._train_done = threading.Event()
        self.attached = None          # a Run trained by another process that the Train screen follows
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
        for key, title in (("corpus", "Corpus"), ("configure", "Configure"), ("train", "Train"),
                           ("generate", "Generate"), ("runs", "Runs")):
            yield SystemCommand(f"Go to {title}", f"Show the {title} screen", lambda k=key: self.switch_mode(k))
        yield SystemCommand("Start training", "Train on the selected corpus with the configured settings",
                            self.start_training)
        yield SystemCommand("Pause or resume training", "Toggle pause of the running training", self.toggle_pause)
        yield SystemCommand("Stop training", "Stop the running training and save it", self.stop_training)
        yield SystemCommand("Sample now", "Stream a short sample from the current best weights", self.sample_now)
        yield SystemCommand("Stop generation", "Stop the running text stream", self.stop_generation)
        yield SystemCommand("Help", "Keys and screens", self.action_help)

    # ------------------------------------------------------------------ corpora
    def catalog_entries(self):
        """The catalog, then corpora that earlier runs used and the catalog does not list (paths, URLs)."""
        try:
            entries = list_catalog(self.home)
        except CharLMError as e:
            self.notify(str(e), severity="error")
            return []
        known = {e.name for e in entries}
        for spec in recent_corpus_specs(self.home):
            if spec not in known:
                known.add(spec)
                entries.append(CatalogEntry(spec, "recent", "used by an earlier run", spec, lambda: []))
        return entries

    def select_corpus(self, spec: str) -> None:
        self.corpus_spec = spec
        cached = self._corpus_cache.get(spec)
        if cached is not None:
            self.corpus = cached
            self._corpus_screen_call("show_corpus", cached)
            return
        self.corpus = None
        self._corpus_screen_call("show_loading", spec)
        self._load_corpus(spec)

    @work(thread=True, exclusive=True, group="corpus", exit_on_error=False)
    def _load_corpus(self, spec: str) -> None:
        from charlm_tui.core.catalog import resolve
        last = [0.0]

        def progress(phase: str, fraction: float) -> None:
            now = self.clock()
            if now - last[0] > 0.2:
                last[0] = now
                self.post_message(CorpusProgress(spec, phase, fraction))
        try:
            corpus = resolve(spec, self.home, progress=progress)
            self.post_message(CorpusLoaded(spec, corpus))
        except CharLMError as e:
            self.post_message(CorpusLoaded(spec, None, str(e)))
        except Exception as e:  # an unexpected failure must still reach the user
            self.post_message(CorpusLoaded(spec, None, f"{type(e).__name__}: {e}"))

    def on_corpus_progress(self, msg: CorpusProgress) -> None:
        if msg.spec == self.corpus_spec and self.corpus is None:
            self._corpus_screen_call("show_loading", msg.spec, f"{msg.phase} {100 * msg.fraction:.0f}%")

    def on_corpus_loaded(self, msg: CorpusLoaded) -> None:
        if msg.corpus is not None:
            self._corpus_cache[msg.spec] = msg.corpus
        if msg.spec != self.corpus_spec:
            return
        if msg.corpus is None:
            self._corpus_screen_call("show_error", msg.spec, msg.error)
            self.notify(msg.error, severity="error", title="Corpus unusable")
            return
        self.corpus = msg.corpus
        self._corpus_screen_call("show_corpus", msg.corpus)
        if msg.corpus.stats.rare_warning:
            self.notify(msg.corpus.stats.rare_warning, severity="warning")

    def _corpus_screen_call(self, method: str, *args) -> None:
        screen = self.get_screen("corpus")
        if screen.is_mounted:
            getattr(screen, method)(*args)

    @work(thread=True, exclusive=True, group="corpus-add", exit_on_error=False)
    def add_corpus(self, spec: str) -> None:
        from charlm_tui.core.catalog import add_to_user_dir
        self.call_from_thread(self.notify, f"Adding {spec}…")
        try:
            dest = add_to_user_dir(spec, self.home)
        except CharLMError as e:
            self.call_from_thread(self.notify, str(e), severity="error", title="Could not add corpus")
            return
        self.call_from_thread(self._added, dest.stem)

    def _added(self, name: str) -> None:
        self.notify(f"Added corpus {name!r}")
        self.corpus_spec = name
        self.get_screen("corpus").action_refresh()

    # ------------------------------------------------------------------ training
    @property
    def training(self) -> bool:
        return self.job is not None and self.train_state.state in ("starting", "running", "paused")

    def start_training(self) -> None:
        if self.training:
            self.notify("A run is already training; stop it first (3, then s).", severity="warning")
            return
        if self.corpus is None:
            self.notify("Pick a corpus first (1).", severity="warning")
            return
        self._detach_view()
        self._reset_train_state("starting")
        self._train_done.clear()
        self.switch_mode("train")
        self._train_worker(None)

    def resume_training(self, run_id: str) -> None:
        if self.training:
            self.notify("A run is already training; stop it first.", severity="warning")
            return
        self._detach_view()
        self._reset_train_state("starting")
        self._train_done.clear()
        self.train_state.run_id = run_id
        for m in self.run_metrics(run_id):  # show the history so far
            self._add_eval_point(m["step"], m.get("train_loss"), m.get("val_nll"), m.get("val_ppl"))
        self.switch_mode("train")
        self._train_worker(run_id)

    def _reset_train_state(self, state: str) -> None:
        self.train_state = TrainState(state=state)
        screen = self.get_screen("train")
        if screen.is_mounted:
            screen.redraw()

    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def _train_worker(self, resume_id: str | None) -> None:
        from charlm_tui.core.jobs import new_job, resume_job
        post = lambda ev: self.post_message(TrainUpdate(ev))  # noqa: E731
        try:
            if resume_id is None:
                cfg = replace(self.train_config, event_interval=max(self.train_config.event_interval,
                                                                          UI_EVENT_INTERVAL_S))
                job = new_job(self.home, self.corpus_spec, self.model_kw, cfg, corpus=self.corpus, callback=post)
            else:
                job = resume_job(self.home, resume_id, {"max_epochs": max(self.train_config.max_epochs, 1),
                                                        "event_interval": UI_EVENT_INTERVAL_S}, callback=post)
        except CharLMError as e:
            self.post_message(TrainFailed(str(e)))
            return
        except Exception as e:
            self.post_message(TrainFailed(f"{type(e).__name__}: {e}"))
            return
        self.job = job
        if self._quitting:
            job.trainer.request_stop("quit")
        try:
            job.start()
        except Exception as e:
            self.post_message(TrainFailed(f"training failed: {type(e).__name__}: {e}"))
        finally:
            self._train_done.set()

    def on_train_failed(self, msg: TrainFailed) -> None:
        self.train_state.state = "failed"
        self.train_state.log.append(f"failed: {msg.error}")
        self.notify(msg.error, severity="error", title="Training")
        self.get_screen("train").redraw()  # redraw() does nothing until the screen is mounted

    def _add_eval_point(self, step, train_loss, val_nll, val_ppl) -> None:
        st = self.train_state
        st.val_x.append(step)
        st.val_nll.append(val_nll)
        st.val_ppl.append(val_ppl)
        if train_loss is not None:
            st.train_x.append(step)
            st.train_y.append(train_loss)

    def on_train_update(self, msg: TrainUpdate) -> None:
        ev = msg.event
        st = self.train_state
        st.last = ev
        lines: list[str] = []
        if ev.kind == "start":
            st.state = "running"
            job = self.job
            if job is not None:
                st.run_id = job.run.id
                m = job.trainer.model.config
                st.title = (f"{job.run.id}   {job.corpus.name}   {m.cell} {m.num_layers}x{m.hidden_size}   "
                            f"{job.trainer.model.num_parameters():,} params")
            lines.append(ev.message)
        elif ev.kind == "progress":
            st.chars_per_s = ev.chars_per_s
            if self.job is not None and ev.chars_per_s:
                self.measured_flops = ev.chars_per_s * flops_per_char(self.job.trainer.model.config)
            if ev.train_loss is not None:
                st.train_x.append(ev.step)
                st.train_y.append(ev.train_loss)
        elif ev.kind == "eval":
            st.val_x.append(ev.step)
            st.val_nll.append(ev.val_nll)
            st.val_ppl.append(ev.val_ppl)
            lines.append(f"step {ev.step}: val ppl {ev.val_ppl:.3f} bpc {ev.val_bpc:.3f}; checkpoint saved")
        elif ev.kind == "best":
            lines.append(ev.message)
        elif ev.kind == "lr_reduced":
            st.lr_cuts.append(ev.step)
            lines.append(ev.message)
            self.notify(ev.message, title="Learning rate")
        elif ev.kind in ("paused", "resumed"):
            st.state = "paused" if ev.kind == "paused" else "running"
            lines.append(ev.message)
        elif ev.kind == "done":
            st.state = ("finished" if ev.reason in FINISHED_REASONS else
                        "failed" if ev.reason == "nan" else "stopped")
            lines.append(ev.message)
            self.notify(ev.message, title="Training", severity="error" if ev.reason == "nan" else "information")
        st.log.extend(lines)
        screen = self.get_screen("train")
        now = self.clock()
        redraw = ev.kind != "progress" or now - self._last_chart >= CHART_REDRAW_S
        if redraw:
            self._last_chart = now
        if screen.is_mounted and self.screen is screen:  # hidden screens are redrawn when shown again
            if ev.kind == "progress" and not redraw:
                screen.show_progress(ev)
            else:
                screen.apply(ev, lines)

    # ------------------------------------------------------------------ runs trained by another process
    def attach(self, run_id: str) -> None:
        """Follow a run another process trains: its charts, status, and pause/resume/stop/sample."""
        if self.job is not None and self.training and self.job.run.id == run_id:
            self.switch_mode("train")
            return
        try:
            run = open_run(self.home, run_id)
        except CharLMError as e:
            self.notify(str(e), severity="error")
            return
        self._detach_view()
        self.attached, self._attach_offset = run, 0
        self._reset_train_state("attached")
        st = self.train_state
        st.run_id = run.id
        cfg = run.config.get("model", {}) if (run.path / "config.json").exists() else {}
        st.title = (f"{run.id}   (watching another process)   {cfg.get('cell', '?')} "
                    f"{cfg.get('num_layers', '?')}x{cfg.get('hidden_size', '?')}")
        self._poll_attached()
        self._attach_timer = self.set_interval(0.5, self._poll_attached)
        self.switch_mode("train")

    def _detach_view(self) -> None:
        if self._attach_timer is not None:
            self._attach_timer.stop()
        self.attached, self._attach_timer = None, None

    def _poll_attached(self) -> None:
        from charlm_tui.core.config import TrainEvent
        from charlm_tui.core.runs import run_info
        run = self.attached
        if run is None:
            return
        records, self._attach_offset = run.new_metrics(self._attach_offset)
        info = run_info(run)
        status = run.status()
        for m in records:
            self.on_train_update(TrainUpdate(TrainEvent.from_metrics(
                m, total_steps=status.get("total_steps"), best_val_nll=status.get("best_val_nll"),
                best_val_ppl=status.get("best_val_ppl"), best_val_bpc=status.get("best_val_bpc"))))
            if m.get("train_loss") is not None:
                self.train_state.train_x.append(m["step"])
                self.train_state.train_y.append(m["train_loss"])
            self.train_state.chars_per_s = m.get("chars_per_s")
        if self.train_state.state != info.status:
            self.train_state.state = info.status
            self.train_state.log.append(f"status: {info.status}" + (f" ({info.reason})" if info.reason else ""))
            screen = self.get_screen("train")
            if screen.is_mounted:
                screen.redraw()
        if info.status in ("finished", "stopped", "failed", "interrupted", "damaged") and self._attach_timer:
            self._attach_timer.stop()

    def _control_attached(self, command: str) -> None:
        try:
            self.attached.send_control(command)
            self.notify(f"Sent '{command}' to the process training {self.attached.id}")
        except CharLMError as e:
            self.notify(str(e), severity="error")

    def toggle_pause(self) -> None:
        if self.attached is not None:
            self._control_attached("resume" if self.train_state.state == "paused" else "pause")
            return
        if not self.training:
            self.notify("Nothing is training.", severity="warning")
            return
        tr = self.job.trainer
        if tr.pause_event.is_set():
            tr.resume()
        else:
            tr.pause()

    def stop_training(self) -> None:
        if self.attached is not None:
            self._control_attached("stop")
            return
        if not self.training:
            self.notify("Nothing is training.", severity="warning")
            return
        self.job.trainer.request_stop("stopped")
        self.notify("Stopping: the state is saved and the run can be resumed from Runs (5).")

    def sample_now(self) -> None:
        if self.attached is not None:
            self._sample_attached_worker(self.attached.id)
            return
        job = self.job
        if job is None:
            self.notify("Nothing has trained in this session; open a run in Generate (4).", severity="warning")
            return
        self._sample_now_worker(job)

    @work(thread=True, exclusive=True, group="sample-now", exit_on_error=False)
    def _sample_now_worker(self, job) -> None:
        from charlm_tui.core.model import CharLM
        from charlm_tui.core.sampling import SamplingControl, generate
        trainer = job.trainer
        state = trainer.best_state or {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        model = CharLM.from_config(trainer.model.config)
        model.load_state_dict({k: v.cpu() for k, v in state.items()})
        text, last = "", self.clock()
        for s in generate(model, job.corpus.vocab, "\n", 300, SamplingControl(temperature=0.8)):
            text += s.char
            if self.clock() - last > 0.1:
                self.call_from_thread(self._set_sample, text)
                last = self.clock()
        self.call_from_thread(self._set_sample, text)

    @work(thread=True, exclusive=True, group="sample-now", exit_on_error=False)
    def _sample_attached_worker(self, run_id: str) -> None:
        from charlm_tui.core.sampling import SamplingControl, generate
        try:
            model, vocab = self._load_for_generation(run_id, "best")
        except CharLMError as e:
            self.call_from_thread(self.notify, str(e), severity="error")
            return
        text = "".join(s.char for s in generate(model, vocab, "\n", 300, SamplingControl(temperature=0.8)))
        self.call_from_thread(self._set_sample, text)

    def _set_sample(self, text: str) -> None:
        self.train_state.sample = text
        screen = self.get_screen("train")
        screen.set_sample(text)

    # ------------------------------------------------------------------ generation
    def start_generation(self, prompt: str) -> bool:
        if self.gen_run_id is None:
            self.notify("No run to sample from yet: train one first.", severity="warning")
            return False
        self.stop_generation()
        self._stream_id += 1
        self._gen_stop = threading.Event()
        self.streaming = True
        self._gen_worker(self._stream_id, self.gen_run_id, self.gen_weights, prompt, self.gen_length, self._gen_stop)
        return True

    def stop_generation(self) -> None:
        self._gen_stop.set()

    def _load_for_generation(self, run_id: str, which: str):
        run = open_run(self.home, run_id)
        path = run.path / f"{which}.safetensors"
        key = (run_id, which, path.stat().st_mtime_ns if path.exists() else 0)
        if key not in self._models:
            self._models = {key: run.load_model(which)}  # keep one model in memory
        return self._models[key]

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def _gen_worker(self, stream_id: int, run_id: str, which: str, prompt: str, length: int,
                    stop: threading.Event) -> None:
        from charlm_tui.core.sampling import generate
        try:
            model, vocab = self._load_for_generation(run_id, which)
        except CharLMError as e:
            self.post_message(Generated(stream_id, [], done=True))
            self.call_from_thread(self.notify, str(e), severity="error", title="Generate")
            return
        enc = vocab.encode_prompt(prompt)
        self.call_from_thread(self._stream_started, stream_id, prompt, set(enc.unknown), enc.unknown_count)
        buf: list = []
        last = self.clock()
        for s in generate(model, vocab, prompt, length, self.control, stop_event=stop):
            buf.append((s.char, s.prob))
            now = self.clock()
            if now - last >= GEN_FLUSH_S:
                self.post_message(Generated(stream_id, buf))
                buf, last = [], now
        self.post_message(Generated(stream_id, buf, done=True))

    def _stream_started(self, stream_id: int, prompt: str, unknown: set, count: int) -> None:
        if stream_id != self._stream_id:
            return
        screen = self.get_screen("generate")
        screen.stream_started(prompt, unknown)
        if count:
            chars = " ".join(repr(c) for c in sorted(unknown))
            self.notify(f"{count} prompt character(s) the model never saw were replaced: {chars}",
                        severity="warning")

    def on_generated(self, msg: Generated) -> None:
        if msg.stream_id != self._stream_id:
            return
        screen = self.get_screen("generate")
        if msg.chars and screen.is_mounted:
            screen.stream_chars(msg.chars)
        if msg.done:
            self.streaming = False
            if screen.is_mounted:
                screen.stream_ended("stopped" if self._gen_stop.is_set() else None)

    # ------------------------------------------------------------------ runs
    def list_runs(self):
        try:
            return list_runs(self.home)
        except OSError as e:
            self.notify(f"cannot read runs: {e}", severity="error")
            return []

    def run_metrics(self, run_id: str) -> list[dict]:
        try:
            return open_run(self.home, run_id).metrics()
        except CharLMError:
            return []

    def delete_run(self, run_id: str) -> None:
        try:
            delete_run(self.home, run_id)
            self.notify(f"Deleted {run_id}")
        except CharLMError as e:
            self.notify(str(e), severity="error")

    def rename_run(self, run_id: str, new: str) -> None:
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

    def _exit_when_stopped(self) -> None:
        if not any(w.group == "train" and w.is_running for w in self.workers):
            self._shutdown_workers()
            self.exit()

    def _shutdown_workers(self) -> None:
        self._gen_stop.set()
        if self.job is not None:
            self.job.trainer.request_stop("quit")

    def request_hangup_stop(self) -> None:
        """Terminal gone (SIGHUP): stop training with reason 'hangup' so the run is saved and resumable."""
        self._quitting = True
        if self.job is not None:
            self.job.trainer.request_stop("hangup")


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

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_hangup)
    app.run(mouse=mouse)
    # never leave a training thread behind: it stops within one step and saves its state
    app._shutdown_workers()
    if app.job is not None:
        app._train_done.wait(timeout=30)
    return 0

