"""The training controller: the settings the next run trains with, the job training in a worker
thread (or the run another process trains, followed from its files), and the LiveRun the Train
screen draws. Pause, stop and sample-now act on whichever of the two is shown."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from charlm_tui import formatting
from charlm_tui.core.config import (
    ASSUMED_FLOPS,
    DEFAULT_PRESET,
    FIT_PRESET,
    FIXED_DEFAULT,
    PRESETS,
    REGULARISERS,
    SHAPE,
    TrainConfig,
    TrainEvent,
    flops_per_char,
)
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.lifecycle import TERMINAL_STATUSES, RunStatus, status_for
from charlm_tui.tui.controllers.base import Controller
from charlm_tui.tui.messages import (
    ChartsDue,
    FitDone,
    FitShown,
    LiveRunChanged,
    SampleChanged,
    TrainFailed,
    TrainUpdate,
)

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel
    from textual.timer import Timer

    from charlm_tui.core.sizing import Choice
    from charlm_tui.core.store.run import Run
    from charlm_tui.core.training.jobs import TrainingJob
    from charlm_tui.tui.app import CharLMApp

# The charts are redrawn at most this often, whatever changed them (progress or evaluations): a
# chart redraw is most of what training costs a slow link. Text (progress, events) is not held back.
CHART_REDRAW_S = 2.0
UI_EVENT_INTERVAL_S = 0.5  # progress events from a training run in the app (the UI thread shares 2 cores)
ACTIVE = ("starting", "running", "paused")


@dataclass
class LiveRun:
    """What the Train screen shows of the current or last run; kept by the controller, so it
    survives screen switches. ``state`` is the run's status as the screen words it (idle,
    starting, running, paused, finished, stopped, failed, attached, ...)."""

    run_id: str | None = None
    title: str = ""
    state: str = "idle"
    last: TrainEvent | None = None
    train_x: list = field(default_factory=list)
    train_y: list = field(default_factory=list)
    val_x: list = field(default_factory=list)
    val_nll: list = field(default_factory=list)
    val_ppl: list = field(default_factory=list)
    lr_cuts: list = field(default_factory=list)
    log: list = field(default_factory=list)
    sample: str = ""
    chars_per_s: float | None = None
    precision: str | None = None  # what the training step runs in, once the run has started

    def add_train_point(self, step: int, loss: float | None) -> None:
        if loss is not None:
            self.train_x.append(step)
            self.train_y.append(loss)

    def add_eval(
        self, step: int, val_nll: float | None, val_ppl: float | None, train_loss: float | None = None
    ) -> None:
        """One evaluation on the charts (with the train loss when it has no progress points of its
        own: a run's history, or a run followed from its metrics)."""
        self.val_x.append(step)
        self.val_nll.append(val_nll)
        self.val_ppl.append(val_ppl)
        self.add_train_point(step, train_loss)


class TrainingController(Controller):
    def __init__(self, app: CharLMApp):
        super().__init__(app)
        # what the next run trains with (the Configure screen sets them): the fixed default's until
        # fit to budget (the default preset) has sized the model for the corpus picked
        self.preset = DEFAULT_PRESET
        mk, tk = PRESETS[FIXED_DEFAULT]
        self.model_kw: dict = dict(mk)
        self.config = TrainConfig(**tk)
        self.fitted: Choice | None = None  # fit to budget's last choice, and the settings it was for
        self._fitted_key: tuple | None = None
        self._fitting_key: tuple | None = None
        self.measured_flops: float = ASSUMED_FLOPS  # this machine's training speed, for the Configure estimate
        self.fine_tune: str | None = None  # the run the next run is fine-tuned from (Runs screen, f)
        self.fine_tune_chars: frozenset[str] = frozenset()  # and that run's characters
        self.job: TrainingJob | None = None
        self.live = LiveRun()
        self.attached: Run | None = None  # a run trained by another process that the Train screen follows
        self.done = threading.Event()  # set when the training worker ends, however it ends
        self.quitting = False
        self._attach_offset = 0
        self._attach_timer: Timer | None = None
        self._last_chart = 0.0
        self._chart_timer: Timer | None = None
        # what each kind of trainer event does to the LiveRun; the line it adds to the event log
        self._handlers: dict[str, Callable[[TrainEvent], str | None]] = {
            "start": self._on_start,
            "progress": self._on_progress,
            "evaluating": self._on_evaluating,
            "eval": self._on_eval,
            "best": self._on_best,
            "lr_reduced": self._on_lr_reduced,
            "paused": self._on_paused,
            "resumed": self._on_resumed,
            "done": self._on_done,
        }

    @property
    def training(self) -> bool:
        return self.job is not None and self.live.state in ACTIVE

    @property
    def fit_under_way(self) -> bool:
        """A fit is being measured; the Configure form still holds the values of the last one."""
        return self._fitting_key is not None

    # ------------------------------------------------------------------ fit to budget
    def fit(self, budget_s: float, precision: str, device: str, val_fraction: float) -> FitShown | None:
        """Size the next run's model for this budget and the corpus picked, in a worker (timing a few
        shapes on a cold cache takes seconds): the Configure screen hears FitShown when it is done.
        What to show until then (or at once, when nothing needs to run) is returned."""
        corpus = self.app.corpora.corpus
        if corpus is None:
            return FitShown(None, "pick a corpus first (1)")
        key = (self.app.corpora.spec, corpus.stats.chars, budget_s, precision, device, val_fraction)
        if key == self._fitted_key and self.fitted is not None:
            return FitShown(self.fitted)
        busy = FitShown(None, busy="measuring this machine's speed of a few model shapes...")
        if key == self._fitting_key:
            return busy  # under way
        self._fitting_key = key
        (train_chars, val_chars), vocab, home = corpus.split_sizes(val_fraction), corpus.vocab.size, self.app.home

        def work() -> None:  # in a worker thread
            try:
                from charlm_tui.core.training.fit import fit_to_budget
                from charlm_tui.core.training.jobs import device_for

                dev = device_for(TrainConfig(device=device))
                choice = fit_to_budget(budget_s, vocab, train_chars, precision, dev, home, val_chars=val_chars)
                self.app.post_message(FitDone(key, choice))
            except CharLMError as e:
                self.app.post_message(FitDone(key, None, str(e)))
            except Exception as e:  # the form must hear of any failure, not wait for ever
                self.app.post_message(FitDone(key, None, f"{type(e).__name__}: {e}"))

        self.app.run_worker(work, thread=True, exclusive=True, group="fit", exit_on_error=False)
        return busy

    def on_fit_done(self, msg: FitDone) -> None:
        if msg.key != self._fitting_key:
            return  # settings changed since: a later fit is under way
        self._fitting_key = None
        if msg.choice is not None:
            self.fitted, self._fitted_key = msg.choice, msg.key
        self.tell("configure", FitShown(msg.choice, msg.error))

    def sizing_for(self, model_kw: dict, cfg: TrainConfig):
        """(config.json's sizing record, the precision its measurement settled) when the next run
        trains the fitted model as chosen; (None, None) for a fixed preset or a shape typed by hand."""
        c = self.fitted
        if self.preset != FIT_PRESET or c is None or self.fine_tune is not None:
            return None, None
        if any(model_kw.get(k) != v for k, v in c.model_kw().items() if k in SHAPE) or cfg.max_seconds != c.budget_s:
            return None, None
        from charlm_tui.core.sizing import given_instead, given_text
        from charlm_tui.core.training.fit import precision_of
        from charlm_tui.core.training.jobs import device_for

        same_batch = (cfg.batch_size, cfg.num_steps) == (c.train_kw()["batch_size"], c.train_kw()["num_steps"])
        prec = precision_of(c, cfg.precision, device_for(cfg)) if same_batch else None
        record, given = c.record(), given_instead(c, model_kw, asdict(cfg))
        if given:  # typed by hand over the choice (dropout, LR...): said, not claimed as chosen
            record["given"] = given_text(given)
        return record, prec

    # ------------------------------------------------------------------ start, resume
    def start(self) -> None:
        app = self.app
        if self.training:
            app.notify("A run is already training; stop it first (3, then s).", severity="warning")
            return
        if app.corpora.corpus is None:
            app.notify("Pick a corpus first (1).", severity="warning")
            return
        self._begin(None)

    def resume(self, run_id: str) -> None:
        if self.training:
            self.app.notify("A run is already training; stop it first.", severity="warning")
            return
        holder = self._trained_elsewhere(run_id)
        if holder is not None:  # the lock would refuse: follow it instead of flashing an empty Train screen
            self.app.notify(f"{run_id} is training in another process ({holder}); watching it instead.", title="Resume")
            self.attach(run_id)
            return
        self._begin(run_id)

    def fine_tune_from(self, run_id: str) -> bool:
        """Make the next run a fine-tuning of ``run_id`` (its shape) on the picked corpus, and open
        the Configure screen to set the training options."""
        from charlm_tui.core.store.run_store import open_run

        app = self.app
        if app.corpora.corpus is None:
            app.notify("Pick the corpus to fine-tune on first (1).", severity="warning")
            return False
        try:
            run = open_run(app.home, run_id)
            m = run.model_config()
            self.fine_tune_chars = frozenset(run.vocab().chars)  # the run's vocabulary is their union
        except CharLMError as e:
            app.notify(str(e), severity="error", title="Fine-tune")
            return False
        self.fine_tune = run_id
        self.model_kw = {k: getattr(m, k) for k in (*SHAPE, *REGULARISERS)}
        app.switch_mode("configure")
        return True

    def _begin(self, resume_id: str | None) -> None:
        self._detach_view()
        self._reset("starting")
        self.live.title = self._starting_title(resume_id)
        self.done.clear()
        if resume_id is not None:
            self.live.run_id = resume_id
            for m in self.app.runs.metrics(resume_id):  # show the history so far
                self.live.add_eval(m["step"], m.get("val_nll"), m.get("val_ppl"), m.get("train_loss"))
        self.app.switch_mode("train")
        self.app.run_worker(
            lambda: self._worker(resume_id), thread=True, exclusive=True, group="train", exit_on_error=False
        )

    def _starting_title(self, resume_id: str | None) -> str:
        """What the Train screen says until the run's first event (loading the corpus, building the
        model and, with auto precision, timing fp32 against bf16 here take several seconds)."""
        what = f"resuming {resume_id}" if resume_id else f"starting a run on {self.app.corpora.spec}"
        measuring = self.config.precision == "auto" and resume_id is None
        doing = "building the model and measuring this machine's speed in fp32 and bf16 (auto precision)"
        return formatting.printable(f"{what}: {doing if measuring else 'loading the corpus and the model'}...")

    def _trained_elsewhere(self, run_id: str) -> str | None:
        from charlm_tui.core.store.run_store import open_run

        try:
            holder = open_run(self.app.home, run_id).lock_holder()
        except CharLMError:
            return None  # the resume says what is wrong with it
        if holder is None:
            return None
        return f"pid {holder.get('pid')} on {holder.get('host')}"

    def _reset(self, state: str) -> None:
        self.live = LiveRun(state=state)
        self.tell("train", LiveRunChanged(full=True))

    def _worker(self, resume_id: str | None) -> None:  # in a worker thread
        try:
            self._train(resume_id)
        finally:
            self.done.set()  # on every path: quitting waits for it (a refused resume hung q for 30 s)

    def _train(self, resume_id: str | None) -> None:
        from charlm_tui.core.training.jobs import another_round, new_job, resume_job

        app = self.app

        def post(ev: TrainEvent) -> None:
            app.post_message(TrainUpdate(ev))

        try:
            if resume_id is None:
                cfg = replace(self.config, event_interval=max(self.config.event_interval, UI_EVENT_INTERVAL_S))
                corpora = app.corpora
                sizing, prec = self.sizing_for(self.model_kw, cfg)
                parent, self.fine_tune = self._parent(self.fine_tune), None  # the next run is a new one again
                job = new_job(
                    app.home,
                    corpora.spec,
                    self.model_kw,
                    cfg,
                    corpus=corpora.corpus,
                    callback=post,
                    parent=parent,
                    sizing=sizing,
                    precision=prec,
                )
            else:
                # a run that ended at a limit gets another round of it; an unfinished one just goes on
                rnd = another_round(app.home, resume_id)
                extra = rnd.overrides if rnd is not None else {}
                job = resume_job(app.home, resume_id, {**extra, "event_interval": UI_EVENT_INTERVAL_S}, callback=post)
                if rnd is not None:
                    why = formatting.another_round(rnd)
                    app.call_from_thread(app.notify, f"Resuming {resume_id}: {why}.", title="Resume")
        except CharLMError as e:
            app.post_message(TrainFailed(str(e)))
            return
        except Exception as e:
            app.post_message(TrainFailed(f"{type(e).__name__}: {e}"))
            return
        self.job = job
        if self.quitting:
            job.trainer.request_stop("quit")
        try:
            job.start()
        except Exception as e:
            app.post_message(TrainFailed(f"training failed: {type(e).__name__}: {e}"))

    def _parent(self, run_id: str | None):
        """The run to fine-tune from, loaded (in the worker); a note (it is training right now) is told."""
        if run_id is None:
            return None
        from charlm_tui.core.training.finetune import load_parent

        parent = load_parent(self.app.home, run_id)
        if parent.note:
            self.app.call_from_thread(self.app.notify, parent.note, title="Fine-tune", timeout=10)
        return parent

    # ------------------------------------------------------------------ events from the trainer
    def on_failed(self, error: str) -> None:
        self.live.state = "failed"
        if not self.live.run_id:  # it never started: the title no longer says it is starting
            self.live.title = formatting.printable(f"could not start: {error}")[:200]
        self.live.log.append(f"failed: {error}")
        self.app.notify(error, severity="error", title="Training")
        self.tell("train", LiveRunChanged(full=True))

    def on_event(self, ev: TrainEvent) -> None:
        """A trainer event (or an evaluation read from a followed run's metrics): into the LiveRun,
        then to the Train screen if it is shown (a hidden one redraws from the LiveRun when shown)."""
        self.live.last = ev
        handler = self._handlers.get(ev.kind)
        line = handler(ev) if handler is not None else None
        if line:
            self.live.log.append(line)
        shown = self.tell("train", LiveRunChanged(full=ev.kind == "start"), only_if_shown=True)
        if shown and ev.kind in ("progress", "eval", "done"):
            self._charts_changed(at_once=ev.kind == "done")

    def _on_start(self, ev: TrainEvent) -> str:
        self.live.state = "running"
        self.live.precision = ev.precision
        job = self.job
        if job is not None and job.run is not None:
            self.live.run_id = job.run.id
            self.app.generation.settings.run_id = job.run.id  # Generate opens on the run trained here
            m = job.trainer.model.config
            self.live.title = (
                f"{job.run.id}   {formatting.printable(job.corpus.name)}   {m.cell} {m.num_layers}x{m.hidden_size}   "
                f"{job.trainer.model.num_parameters():,} params"
            )
        return ev.message

    def _on_progress(self, ev: TrainEvent) -> None:
        self.live.chars_per_s = ev.chars_per_s
        if self.job is not None and ev.chars_per_s:
            self.measured_flops = ev.chars_per_s * flops_per_char(self.job.trainer.model.config)
        self.live.add_train_point(ev.step, ev.train_loss)

    def _on_evaluating(self, ev: TrainEvent) -> str:
        return ev.message  # a slow evaluation says how far it is

    def _on_eval(self, ev: TrainEvent) -> str:
        # a run followed from its metrics has no progress events: its train loss and speed come with
        # each evaluation
        followed = self.attached is not None
        self.live.add_eval(ev.step, ev.val_nll, ev.val_ppl, ev.train_loss if followed else None)
        if followed:
            self.live.chars_per_s = ev.chars_per_s
        return f"step {ev.step}: val ppl {formatting.number(ev.val_ppl, '.3f')} bpc {formatting.number(ev.val_bpc, '.3f')}; checkpoint saved"

    def _on_best(self, ev: TrainEvent) -> str:
        return ev.message

    def _on_lr_reduced(self, ev: TrainEvent) -> str:
        self.live.lr_cuts.append(ev.step)
        return ev.message  # in the Events panel and the lr figure; a toast covered the chart

    def _on_paused(self, ev: TrainEvent) -> str:
        self.live.state = "paused"
        return ev.message

    def _on_resumed(self, ev: TrainEvent) -> str:
        self.live.state = "running"
        return ev.message

    def _on_done(self, ev: TrainEvent) -> str:
        self.live.state = status_for(ev.reason).value  # as the run's status.json says (an error is failed too)
        severity: SeverityLevel = "error" if self.live.state == RunStatus.FAILED else "information"
        self.app.notify(ev.message, title="Training", severity=severity)
        return ev.message

    # ------------------------------------------------------------------ charts, throttled
    def _charts_changed(self, at_once: bool = False) -> None:
        """Redraw the charts now if the last redraw is CHART_REDRAW_S old, else once when it is."""
        wait = CHART_REDRAW_S - (self.app.clock() - self._last_chart)
        if at_once or wait <= 0:
            self._draw_charts()
        elif self._chart_timer is None:
            timer: Timer | None = None

            def due() -> None:
                self._chart_due(timer)

            self._chart_timer = timer = self.app.set_timer(wait, due)

    def _chart_due(self, timer: Timer | None) -> None:
        """A scheduled redraw, unless a redraw made since then already drew it (a timer that had fired
        when a redraw stopped it still calls back)."""
        if timer is self._chart_timer:
            self._draw_charts()

    def _draw_charts(self) -> None:
        if self._chart_timer is not None:
            self._chart_timer.stop()
            self._chart_timer = None
        self._last_chart = self.app.clock()
        self.tell("train", ChartsDue(), only_if_shown=True)

    # ------------------------------------------------------------------ runs trained by another process
    def attach(self, run_id: str) -> None:
        """Follow a run another process trains: its charts, status, and pause/resume/stop/sample."""
        app = self.app
        if self.job is not None and self.job.run is not None and self.training and self.job.run.id == run_id:
            app.switch_mode("train")
            return
        try:
            from charlm_tui.core.store.run_store import open_run

            run = open_run(app.home, run_id)
        except CharLMError as e:
            app.notify(str(e), severity="error")
            return
        self._detach_view()
        self.attached, self._attach_offset = run, 0
        self.live = LiveRun(state="attached", run_id=run.id)
        cfg = run.config.get("model", {}) if run.has_config() else {}
        self.live.title = (
            f"{run.id}   (watching another process)   {cfg.get('cell', '?')} "
            f"{cfg.get('num_layers', '?')}x{cfg.get('hidden_size', '?')}"
        )
        self.tell("train", LiveRunChanged(full=True))
        self._poll_attached()
        self._attach_timer = app.set_interval(0.5, self._poll_attached)
        app.switch_mode("train")

    def _detach_view(self) -> None:
        if self._attach_timer is not None:
            self._attach_timer.stop()
        self.attached, self._attach_timer = None, None

    def _poll_attached(self) -> None:
        from charlm_tui.core.store.run_store import run_info

        run = self.attached
        if run is None:
            return
        records, self._attach_offset = run.new_metrics(self._attach_offset)
        info = run_info(run)
        status = run.status()
        for m in records:
            if m.get("val_nll") is None:
                continue
            ev = TrainEvent.from_metrics(
                m,
                total_steps=status.get("total_steps"),
                best_val_nll=status.get("best_val_nll"),
                best_val_ppl=status.get("best_val_ppl"),
                best_val_bpc=status.get("best_val_bpc"),
                budget=status.get("budget"),
                time_budget=status.get("time_budget"),
            )
            self.on_event(ev)
            if ev.lr_cut_from is not None and ev.lr is not None:  # as the run's own process told it
                cut = f"val ppl plateaued: LR cut {ev.lr_cut_from:.3g} -> {ev.lr:.3g}"
                self.on_event(replace(ev, kind="lr_reduced", message=cut))
        if self.live.state != info.status:
            self.live.state = info.status
            self.live.log.append(f"status: {info.status_text}")
            self.tell("train", LiveRunChanged(full=True))
        if info.status in TERMINAL_STATUSES and self._attach_timer:
            self._attach_timer.stop()

    def _control_attached(self, run: Run, command: str) -> None:
        try:
            run.send_control(command)
            self.app.notify(f"Sent '{command}' to the process training {run.id}")
        except CharLMError as e:
            self.app.notify(str(e), severity="error")

    # ------------------------------------------------------------------ pause, stop, sample
    def toggle_pause(self) -> None:
        if self.attached is not None:
            self._control_attached(self.attached, "resume" if self.live.state == "paused" else "pause")
            return
        if self.job is None or not self.training:
            self.app.notify("Nothing is training.", severity="warning")
            return
        tr = self.job.trainer
        if tr.paused:
            tr.resume()
        else:
            tr.pause()

    def stop(self) -> None:
        if self.attached is not None:
            self._control_attached(self.attached, "stop")
            return
        if self.job is None or not self.training:
            self.app.notify("Nothing is training.", severity="warning")
            return
        self.job.trainer.request_stop("stopped")
        self.app.notify("Stopping: the state is saved and the run can be resumed from Runs (5).")

    def request_stop(self, reason: str) -> None:
        """Stop the training in this process, if any, with ``reason`` (it saves first)."""
        if self.job is not None:
            self.job.trainer.request_stop(reason)

    def sample_now(self) -> None:
        if self.attached is not None:
            run_id = self.attached.id
            self.app.run_worker(
                lambda: self._sample_attached(run_id),
                thread=True,
                exclusive=True,
                group="sample-now",
                exit_on_error=False,
            )
            return
        job = self.job
        if job is None:
            self.app.notify("Nothing has trained in this session; open a run in Generate (4).", severity="warning")
            return
        self.app.run_worker(
            lambda: self._sample_job(job), thread=True, exclusive=True, group="sample-now", exit_on_error=False
        )

    def _sample_job(self, job: TrainingJob) -> None:  # in a worker thread
        from charlm_tui.core.model.charlm import CharLM
        from charlm_tui.core.model.sampling import SamplingControl, generate

        trainer = job.trainer
        weights = trainer.best_weights() or trainer.weights()
        model = CharLM.from_config(trainer.model.config)
        model.load_state_dict({k: v.cpu() for k, v in weights.items()})
        clock = self.app.clock
        text, last = "", clock()
        for s in generate(model, job.corpus.vocab, "\n", 300, SamplingControl(temperature=0.8)):
            text += s.char
            if clock() - last > 0.1:
                self.app.call_from_thread(self._set_sample, text)
                last = clock()
        self.app.call_from_thread(self._set_sample, text)

    def _sample_attached(self, run_id: str) -> None:  # in a worker thread
        from charlm_tui.core.model.sampling import SamplingControl, generate

        try:
            model, vocab = self.app.generation.load_model(run_id, "best")
        except CharLMError as e:
            self.app.call_from_thread(self.app.notify, str(e), severity="error")
            return
        text = "".join(s.char for s in generate(model, vocab, "\n", 300, SamplingControl(temperature=0.8)))
        self.app.call_from_thread(self._set_sample, text)

    def _set_sample(self, text: str) -> None:
        self.live.sample = text
        self.tell("train", SampleChanged(text))
