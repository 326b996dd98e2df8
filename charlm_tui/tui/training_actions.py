"""The app's training actions: the training worker, live state for the Train screen, pause /
stop / sample-now, and following a run that another process trains."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from textual import work

from charlm_tui import formatting
from charlm_tui.core.config import flops_per_char
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.lifecycle import TERMINAL_STATUSES, RunStatus, status_for
from charlm_tui.tui.messages import TrainFailed, TrainUpdate

# The charts are redrawn at most this often, whatever changed them (progress or evaluations): a
# chart redraw is most of what training costs a slow link. Text (progress, events) is not held back.
CHART_REDRAW_S = 2.0
UI_EVENT_INTERVAL_S = 0.5  # progress events from a training run in the app (the UI thread shares 2 cores)


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


class TrainingActions:
    """Mixed into CharLMApp; state lives on the app (job, train_state, attached, ...)."""

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
        holder = self._trained_elsewhere(run_id)
        if holder is not None:  # the lock would refuse: follow it instead of flashing an empty Train screen
            self.notify(f"{run_id} is training in another process ({holder}); watching it instead.", title="Resume")
            self.attach(run_id)
            return
        self._detach_view()
        self._reset_train_state("starting")
        self._train_done.clear()
        self.train_state.run_id = run_id
        for m in self.run_metrics(run_id):  # show the history so far
            self._add_eval_point(m["step"], m.get("train_loss"), m.get("val_nll"), m.get("val_ppl"))
        self.switch_mode("train")
        self._train_worker(run_id)

    def _trained_elsewhere(self, run_id: str) -> str | None:
        from charlm_tui.core.store.run_store import open_run

        try:
            holder = open_run(self.home, run_id).lock_holder()
        except CharLMError:
            return None  # the resume says what is wrong with it
        if holder is None:
            return None
        return f"pid {holder.get('pid')} on {holder.get('host')}"

    def _reset_train_state(self, state: str) -> None:
        self.train_state = TrainState(state=state)
        screen = self.get_screen("train")
        if screen.is_mounted:
            screen.redraw()

    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def _train_worker(self, resume_id: str | None) -> None:
        try:
            self._train(resume_id)
        finally:
            self._train_done.set()  # on every path: quitting waits for it (a refused resume hung q for 30 s)

    def _train(self, resume_id: str | None) -> None:
        from charlm_tui.core.training.jobs import another_round, new_job, resume_job

        post = lambda ev: self.post_message(TrainUpdate(ev))  # noqa: E731
        try:
            if resume_id is None:
                cfg = replace(
                    self.train_config, event_interval=max(self.train_config.event_interval, UI_EVENT_INTERVAL_S)
                )
                job = new_job(self.home, self.corpus_spec, self.model_kw, cfg, corpus=self.corpus, callback=post)
            else:
                # a run that ended at a limit gets another round of it; an unfinished one just goes on
                rnd = another_round(self.home, resume_id)
                extra = rnd.overrides if rnd is not None else {}
                job = resume_job(self.home, resume_id, {**extra, "event_interval": UI_EVENT_INTERVAL_S}, callback=post)
                if rnd is not None:
                    why = formatting.another_round(rnd)
                    self.call_from_thread(self.notify, f"Resuming {resume_id}: {why}.", title="Resume")
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
                st.title = (
                    f"{job.run.id}   {job.corpus.name}   {m.cell} {m.num_layers}x{m.hidden_size}   "
                    f"{job.trainer.model.num_parameters():,} params"
                )
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
            lines.append(ev.message)  # in the Events panel and the lr figure; a toast covered the chart
        elif ev.kind in ("paused", "resumed"):
            st.state = "paused" if ev.kind == "paused" else "running"
            lines.append(ev.message)
        elif ev.kind == "done":
            st.state = status_for(ev.reason).value  # as the run's status.json says (an error is failed too)
            lines.append(ev.message)
            self.notify(
                ev.message, title="Training", severity="error" if st.state == RunStatus.FAILED else "information"
            )
        st.log.extend(lines)
        screen = self.get_screen("train")
        if screen.is_mounted and self.screen is screen:  # hidden screens are redrawn when shown again
            screen.apply(ev, lines)
            if ev.kind in ("progress", "eval", "done"):
                self._charts_changed(at_once=ev.kind == "done")

    def _charts_changed(self, at_once: bool = False) -> None:
        """Redraw the charts now if the last redraw is CHART_REDRAW_S old, else once when it is."""
        wait = CHART_REDRAW_S - (self.clock() - self._last_chart)
        if at_once or wait <= 0:
            self._draw_charts()
        elif self._chart_timer is None:
            self._chart_timer = timer = self.set_timer(wait, lambda: self._chart_due(timer))

    def _chart_due(self, timer) -> None:
        """A scheduled redraw, unless a redraw made since then already drew it (a timer that had fired
        when a redraw stopped it still calls back)."""
        if timer is self._chart_timer:
            self._draw_charts()

    def _draw_charts(self) -> None:
        if self._chart_timer is not None:
            self._chart_timer.stop()
            self._chart_timer = None
        self._last_chart = self.clock()
        screen = self.get_screen("train")
        if screen.is_mounted and self.screen is screen:
            screen.update_charts()

    # ------------------------------------------------------------------ runs trained by another process
    def attach(self, run_id: str) -> None:
        """Follow a run another process trains: its charts, status, and pause/resume/stop/sample."""
        if self.job is not None and self.training and self.job.run.id == run_id:
            self.switch_mode("train")
            return
        try:
            from charlm_tui.core.store.run_store import open_run

            run = open_run(self.home, run_id)
        except CharLMError as e:
            self.notify(str(e), severity="error")
            return
        self._detach_view()
        self.attached, self._attach_offset = run, 0
        self._reset_train_state("attached")
        st = self.train_state
        st.run_id = run.id
        cfg = run.config.get("model", {}) if run.has_config() else {}
        st.title = (
            f"{run.id}   (watching another process)   {cfg.get('cell', '?')} "
            f"{cfg.get('num_layers', '?')}x{cfg.get('hidden_size', '?')}"
        )
        self._poll_attached()
        self._attach_timer = self.set_interval(0.5, self._poll_attached)
        self.switch_mode("train")

    def _detach_view(self) -> None:
        if self._attach_timer is not None:
            self._attach_timer.stop()
        self.attached, self._attach_timer = None, None

    def _poll_attached(self) -> None:
        from charlm_tui.core.config import TrainEvent
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
            self.on_train_update(
                TrainUpdate(
                    TrainEvent.from_metrics(
                        m,
                        total_steps=status.get("total_steps"),
                        best_val_nll=status.get("best_val_nll"),
                        best_val_ppl=status.get("best_val_ppl"),
                        best_val_bpc=status.get("best_val_bpc"),
                        budget=status.get("budget"),
                        time_budget=status.get("time_budget"),
                    )
                )
            )
            if m.get("train_loss") is not None:
                self.train_state.train_x.append(m["step"])
                self.train_state.train_y.append(m["train_loss"])
            self.train_state.chars_per_s = m.get("chars_per_s")
        if self.train_state.state != info.status:
            self.train_state.state = info.status
            self.train_state.log.append(f"status: {info.status_text}")
            screen = self.get_screen("train")
            if screen.is_mounted:
                screen.redraw()
        if info.status in TERMINAL_STATUSES and self._attach_timer:
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
        if tr.paused:
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
        from charlm_tui.core.model.charlm import CharLM
        from charlm_tui.core.model.sampling import SamplingControl, generate

        trainer = job.trainer
        state = trainer.best_weights() or trainer.weights()
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
        from charlm_tui.core.model.sampling import SamplingControl, generate

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
