"""Configure a run: model and training settings, presets, live parameter count and time estimate.
Invalid values are refused inline with the reason."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import typing
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.visual import VisualType
from textual.widgets import Button, Checkbox, Footer, Header, Input, Label, Select, Static

from charlm_tui import formatting
from charlm_tui.core.cells import cell_names
from charlm_tui.core.config import (
    FIT_PRESET,
    FIXED_DEFAULT,
    LR_PATIENCE_OFF,
    LR_SCHEDULES,
    PARTITIONS,
    PRECISIONS,
    PRESET_LABELS,
    PRESET_NAMES,
    PRESETS,
    SHAPE,
    ModelConfig,
    TrainConfig,
    check_fits_memory,
    count_parameters,
    estimate_epoch_seconds,
    steps_per_epoch,
)
from charlm_tui.core.errors import ConfigError
from charlm_tui.core.settings import field_types, parse_text, settings_of, shown
from charlm_tui.core.sizing import evaluation_note
from charlm_tui.tui.messages import FitShown
from charlm_tui.tui.screens.base import AppScreen
from charlm_tui.tui.widgets.history_input import SteadyInput

# each fits one line of an 80-column terminal (the longer ones were cut off there)
PARTITION_HELP = {
    "sequential": "sequential: B streams; state carried over between batches (detached)",
    "random": "random: shuffled subsequences at random offsets; state reset every batch",
}
FINE_TUNE_FIT = (
    "fit to budget sizes new runs; a fine-tuned run keeps its parent's shape and trains with the "
    f"{FIXED_DEFAULT} preset's settings (ctrl+t: a new run instead)"
)
LR_HELP = {
    "plateau": "LR plateau: constant learning rate",
    "cosine": "LR cosine: warmup, then decay to the end of the budget",
}


def lr_help(schedule: str, patience: int | None, factor: float | None) -> str:
    """The schedule line under the drop-downs, true to the plateau cuts as set: off, or what a cut does
    (a value the form cannot read yet says only 'cut'; the error line names it)."""
    if patience is not None and patience >= LR_PATIENCE_OFF:
        return f"{LR_HELP[schedule]}; no plateau cuts"
    cut = "halved" if factor == 0.5 else f"x {factor:g}" if factor is not None else "cut"
    return f"{LR_HELP[schedule]}; {cut} on plateaus"


@dataclass(frozen=True)
class FormField:
    """A text box of the form, for one numeric setting (core.settings): the form's own id and label,
    the config and field it sets, and the unit the form shows it in (max seconds as minutes)."""

    fid: str
    label: str
    section: str  # "model" or "train"
    name: str  # the config field
    scale: float  # form value = field value / scale
    optional: bool  # empty means None (no limit)


def form_fields() -> dict[str, FormField]:
    """Every numeric setting of the model and training configs that the form shows, in their order."""
    out: dict[str, FormField] = {}
    for section, cls in (("model", ModelConfig), ("train", TrainConfig)):
        types_ = field_types(cls)
        for name, st in settings_of(cls).items():
            t = types_[name]
            if not st.form or st.options() is not None or t is bool:
                continue
            fid = st.form_label.replace(" ", "_") if st.form_scale != 1.0 else name  # max_minutes
            optional = type(None) in typing.get_args(t)
            out[fid] = FormField(fid, st.form_label or st.label, section, name, st.form_scale, optional)
    return out


FIELDS = form_fields()


def _scaled(cls, ff: FormField, raw: str) -> float:
    """A setting the form shows in other units (max seconds as minutes): parsed and bounded in the
    form's units, with core's bounds scaled to them, then in the field's units."""
    try:
        v = float(raw)
    except ValueError:
        raise ValueError(f"{ff.label}: expected a number, got {raw!r}") from None
    st = settings_of(cls)[ff.name]
    in_form = dataclasses.replace(
        st,
        label=ff.label,
        lo=None if st.lo is None else st.lo / ff.scale,
        hi=None if st.hi is None else st.hi / ff.scale,
    )
    problem = in_form.problem(v) if math.isfinite(v) else f"{ff.label}: expected a finite number, got {raw!r}"
    if problem:
        raise ValueError(problem)
    return v * ff.scale


class ReasonLine(Static):
    """Fit to budget's line: no room taken while it has nothing to say (a fixed preset)."""

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        self.display = bool(str(content))
        super().update(content, layout=layout)


class SaidCheckbox(Checkbox):
    """A checkbox that says on or off in words: its mark differs only by colour, which NO_COLOR
    takes away."""

    def __init__(self, text: str, **kw):
        self._text = text
        super().__init__(f"{text}: off", **kw)

    def watch_value(self) -> None:
        super().watch_value()  # the -on class and the Changed message
        self.label = f"{self._text}: {'on' if self.value else 'off'}"


class ConfigureScreen(AppScreen):
    HELP = "model and training settings, presets, parameter count, time estimate"

    BINDINGS = [
        # not a priority binding: it reaches the screen after the keys typed before it (as one, a
        # burst of '0.05' then ctrl+s started the run before the new max minutes was in the box)
        Binding("ctrl+s", "start", "Start training", tooltip="start training"),
        Binding("ctrl+r", "cycle_preset", "Next preset", priority=True, tooltip="next preset"),
        Binding("ctrl+t", "new_run", "New run instead", priority=True, tooltip="fine-tuning: a new run instead"),
    ]
    SHAPE_FIELDS = SHAPE  # locked while fine-tuning (the parent's weights have that shape)

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="config-scroll"):
            yield Static("", id="config-corpus")
            with Horizontal(classes="config-selects"):
                yield Label("preset")
                yield Select(
                    [(PRESET_LABELS.get(p, p), p) for p in PRESET_NAMES],
                    value=self.app.training.preset,
                    allow_blank=False,
                    id="preset",
                )
                yield Label("cell")
                yield Select([(c, c) for c in cell_names()], value="lstm", allow_blank=False, id="cell")
                yield Label("device")
                yield Select(
                    [(d, d) for d in ("auto", "cpu", "cuda", "mps")], value="auto", allow_blank=False, id="device"
                )
            with Horizontal(classes="config-selects", id="config-selects-2"):
                yield Label("partition")
                yield Select([(p, p) for p in PARTITIONS], value="sequential", allow_blank=False, id="partition")
                yield Label("LR schedule")
                yield Select([(x, x) for x in LR_SCHEDULES], value="plateau", allow_blank=False, id="lr_schedule")
                yield Label("precision")
                yield Select([(x, x) for x in PRECISIONS], value="auto", allow_blank=False, id="precision")
            yield Static(PARTITION_HELP["sequential"], id="partition-help")
            yield Static(lr_help("plateau", None, None), id="lr-help")
            # the choice and its reason beside the preset that makes it, and what the values come to,
            # above the form: below it, an 80x24 terminal showed the reason's first line only
            yield ReasonLine("", id="fit-reason")
            yield Static("", id="config-summary")
            with Grid(id="config-grid"):
                for fid, ff in FIELDS.items():
                    yield Label(ff.label)
                    yield SteadyInput(id=fid, classes="compact")
            yield SaidCheckbox("TensorBoard log (event files in the run folder)", id="tensorboard")
            yield Static("", id="config-error")
            yield Button("Start training (ctrl+s)", id="start", variant="success")
        yield Footer(compact=True, show_command_palette=False)  # ctrl+p still opens it; ? says so

    def on_mount(self) -> None:
        self._fit_budget: float | None = None  # the budget the last fit was asked for
        self._loaded: dict[str, str] = {}  # what load_values put in each box (a change to another value is the user's)
        self._by_hand = False  # a setting typed since fit to budget chose: a new budget does not overwrite it
        self._start_when_fitted = False  # start was pressed while a fit was measured: start once it is in
        self.load_values(self.app.training.model_kw, self.app.training.config)
        # the presets first: not a text box, so a digit pressed on arrival switches screens instead of
        # replacing a field's selected value (2 then 3 set the embedding to 3); Tab walks the form
        self.query_one("#preset", Select).focus()
        self._refit()

    def on_screen_suspend(self) -> None:
        if self._start_when_fitted:  # left before the fit came in: the corpus or the form may change meanwhile
            self._start_when_fitted = False
            self.notify("Not started: Configure was left before the model was fitted.", title="Fit to budget")

    def on_screen_resume(self) -> None:
        if self.app.training.fine_tune is not None or self.query_one("#cell", Select).disabled:
            self.load_values(self.app.training.model_kw, self.app.training.config)
        self.update_summary()
        self._refit()  # the corpus may have changed

    # ------------------------------------------------------------------ fit to budget
    def _fitting(self) -> bool:
        """Fit to budget sizes the next run (a fine-tuned run keeps its parent's shape: not it)."""
        return self._choice("preset") == FIT_PRESET and self.app.training.fine_tune is None

    def _budget(self) -> float | None:
        """The budget the form gives (max minutes), in seconds; None when it is not a number."""
        raw = self.query_one("#max_minutes", Input).value.strip()
        if not raw:
            return None
        try:
            v = float(raw) * 60.0
        except ValueError:
            return None
        return v if math.isfinite(v) and v > 0 else None

    def _refit(self) -> None:
        """Ask for the choice for the form's budget, corpus, precision and device (fit to budget only)."""
        reason = self.query_one("#fit-reason", Static)
        if not self._fitting() or self._by_hand:
            self._start_when_fitted = False  # the form's values are the user's now: a start goes ahead at once
        if self._choice("preset") == FIT_PRESET and self.app.training.fine_tune is not None:
            # as `train --init-from` does: the fixed default's training settings, the parent's shape
            self.load_values(self.app.training.model_kw, self._preset_config(PRESETS[FIXED_DEFAULT][1]))
            reason.update(Text(FINE_TUNE_FIT, style="italic"))
            return
        if not self._fitting():
            reason.update("")
            return
        if self._by_hand:
            reason.update(
                Text(
                    "fit to budget: settings typed by hand are kept (choose the preset again to refit)", style="italic"
                )
            )
            return
        budget = self._budget()
        if budget is None:
            reason.update(
                Text(
                    "fit to budget needs a budget: type the minutes to train in max minutes "
                    "(a fixed preset trains until early stopping without one)",
                    style="yellow",
                )
            )
            return
        self._fit_budget = budget
        cfg = self.app.training.config
        now = self.app.training.fit(budget, self._choice("precision"), self._choice("device"), cfg.val_fraction)
        if now is not None:
            self.on_fit_shown(now)

    def on_fit_shown(self, msg: FitShown) -> None:
        reason = self.query_one("#fit-reason", Static)
        if not self._fitting():
            return
        if msg.busy:
            reason.update(Text(f"fit to budget: {msg.busy}", style="italic"))
            return
        if msg.choice is None:
            reason.update(Text(f"fit to budget: {msg.error or 'no choice'}", style="bold red"))
            if self._start_when_fitted:
                self._start_when_fitted = False
                self.notify(f"Not started: {msg.error or 'no choice'}", severity="error", title="Fit to budget")
            return
        c = msg.choice
        if c.budget_s != self._fit_budget or self._by_hand:
            return  # the budget was changed since (its own fit follows), or the user took over
        mk = c.model_kw() if self.app.training.fine_tune is None else self.app.training.model_kw
        self.load_values(mk, self._preset_config(c.train_kw()))
        reason.update(Text(formatting.printable(f"fit to budget: {c.reason()}"), style="bold"))
        if self._start_when_fitted:
            self._start_when_fitted = False
            self.action_start()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "new_run":
            return self.app.training.fine_tune is not None
        return True

    def action_new_run(self) -> None:
        self.app.training.fine_tune = None
        self.load_values(self.app.training.model_kw, self.app.training.config)
        self.refresh_bindings()
        self._refit()  # a new run: fit to budget sizes it again

    def load_values(self, model_kw: dict, cfg: TrainConfig) -> None:
        # a model setting the preset does not name (weight drop) shows its default, not a blank
        defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig) if f.default is not dataclasses.MISSING}
        values = {**defaults, **model_kw, **dataclasses.asdict(cfg)}
        # no Input.Changed from these: handled after a second load_values (fine-tuning loads the
        # parent's settings, then a preset's), the first load's events read as typed by hand
        with self.prevent(Input.Changed):
            for fid, ff in FIELDS.items():
                v = values.get(ff.name)
                if isinstance(v, (int, float)) and ff.scale != 1.0:
                    v = v / ff.scale
                text = shown(settings_of(ModelConfig if ff.section == "model" else TrainConfig)[ff.name], v)
                self._loaded[fid] = text
                self.query_one(f"#{fid}", Input).value = text
        self.query_one("#cell", Select).value = model_kw.get("cell", "lstm")
        self.query_one("#partition", Select).value = cfg.partition
        self.query_one("#device", Select).value = cfg.device
        self.query_one("#precision", Select).value = cfg.precision
        self.query_one("#lr_schedule", Select).value = cfg.lr_schedule
        self.query_one("#tensorboard", Checkbox).value = cfg.tensorboard
        locked = self.app.training.fine_tune is not None  # the parent's shape: shown, not editable
        for fid in self.SHAPE_FIELDS:
            self.query_one(f"#{fid}").disabled = locked
        self.refresh_bindings()
        self._update_help()
        self.update_summary()

    def read_values(self) -> tuple[dict, TrainConfig]:
        """Parse and validate the form; raise ConfigError naming the field."""
        values: dict[str, dict] = {"model": {}, "train": {}}
        bad: list[str] = []  # every field that is wrong, not only the first
        for fid, ff in FIELDS.items():
            box = self.query_one(f"#{fid}", Input)
            raw = box.value.strip()
            try:
                if raw == "" and ff.optional:
                    v = None
                else:
                    # the form's units to the field's, then core's own parsing and bounds
                    cls = ModelConfig if ff.section == "model" else TrainConfig
                    v = parse_text(cls, ff.name, raw) if ff.scale == 1.0 else _scaled(cls, ff, raw)
                values[ff.section][ff.name] = v
                box.remove_class("-invalid")
            except ValueError as e:
                box.add_class("-invalid")
                bad.append(str(e))
        if bad:
            raise ConfigError("; ".join(bad))
        model_kw = {**values["model"], "cell": self._choice("cell")}
        cfg = dataclasses.replace(
            self.app.training.config,
            **values["train"],
            partition=self._choice("partition"),
            device=self._choice("device"),
            precision=self._choice("precision"),
            lr_schedule=self._choice("lr_schedule"),
            tensorboard=self.query_one("#tensorboard", Checkbox).value,
        ).validate()
        check_fits_memory(ModelConfig(vocab_size=max(2, self._vocab_size()), **model_kw).validate(), cfg)
        return model_kw, cfg

    def _vocab_size(self) -> int:
        """The vocabulary the run will have: the corpus's, or for a fine-tuning the union of the
        parent's and the corpus's characters (as core.training.finetune builds it), plus <unk>."""
        c = self.app.corpora.corpus
        if c is None:
            return 100
        if self.app.training.fine_tune is not None:
            return len(self.app.training.fine_tune_chars | set(c.vocab.chars)) + 1
        return c.vocab.size

    def update_summary(self) -> None:
        if not self.is_mounted:
            return
        c = self.app.corpora.corpus
        head = (
            f"corpus: {c.name} ({c.stats.chars:,} chars, vocab {c.vocab.size})"
            if c
            else "corpus: none selected yet (1: Corpus)"
        )
        parent = self.app.training.fine_tune
        if parent is not None:  # the shape fields are the parent's and locked
            head = f"fine-tuning {parent} on {c.name if c else '?'} (shape locked; ctrl+t: a new run instead)"
        self.query_one("#config-corpus", Static).update(Text(formatting.printable(head), style="bold"))
        err = self.query_one("#config-error", Static)
        try:
            model_kw, cfg = self.read_values()
        except ConfigError as e:
            err.update(Text(f"✗ {e}", style="bold red"))
            self.query_one("#start", Button).disabled = True
            return
        err.update("")
        self.query_one("#start", Button).disabled = False
        mcfg = ModelConfig(vocab_size=self._vocab_size(), **model_kw)
        n = count_parameters(mcfg)
        chars, val_chars = c.split_sizes(cfg.val_fraction) if c else (0, 0)
        est = estimate_epoch_seconds(mcfg, chars, self.app.training.measured_flops) if chars else None
        steps = steps_per_epoch(chars, cfg.batch_size, cfg.num_steps, cfg.partition)
        txt = f"parameters {n:,}   steps/epoch {steps:,}"
        if est is not None:
            txt += f"   ≈{formatting.duration(est)} per epoch here"
        costly = evaluation_note(val_chars, cfg.eval_every, cfg.batch_size, cfg.num_steps, steps)
        if costly:
            txt += f"\n{costly}"
        self.query_one("#config-summary", Static).update(txt)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self.update_summary()
        fid = event.input.id or ""
        if fid in ("lr_patience", "lr_factor"):
            self._update_help()
        if fid in self._loaded and event.value == self._loaded[fid]:
            return  # load_values put it there
        if fid == "max_minutes":
            if self._fitting() and self._budget() != self._fit_budget:
                self._refit()  # a new budget: a new choice
        elif fid not in ("seed", "val_fraction") and self._fitting() and not self._by_hand:
            self._by_hand = True
            self._refit()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset":
            self.app.training.preset = str(event.value)
        if event.select.id == "preset" and event.value == FIT_PRESET:
            self._fit_budget, self._by_hand = None, False
            self._refit()
        elif event.select.id in ("precision", "device") and self._fitting():
            self._refit()
        elif event.select.id == "preset" and event.value in PRESETS:
            self.query_one("#fit-reason", Static).update("")
            mk, tk = PRESETS[event.value]
            if self.app.training.fine_tune is not None:  # a preset's training options; the shape stays the parent's
                mk = self.app.training.model_kw
            self.load_values(mk, self._preset_config(tk))
        if event.select.id in ("partition", "lr_schedule"):
            self._update_help()
        self.update_summary()

    def _preset_config(self, preset: dict) -> TrainConfig:
        """A preset sets every training setting: its own, and the defaults for those it does not
        name (patience 1 typed under quick stayed after switching to default). What is this
        machine's or this user's, not the recipe's, stays as the form has it: device, precision,
        seed and the validation split."""
        current = self.app.training.config
        keep = {
            "device": self._choice("device"),
            "precision": self._choice("precision"),
            "seed": current.seed,
            "val_fraction": current.val_fraction,
            "event_interval": current.event_interval,
            "tensorboard": self.query_one("#tensorboard", Checkbox).value,
        }
        with contextlib.suppress(ValueError):
            keep["seed"] = int(self.query_one("#seed", Input).value.strip())
        return dataclasses.replace(TrainConfig(), **{**keep, **preset})

    def _choice(self, select_id: str) -> str:
        """The value of one of the form's drop-downs (none of them can be blank)."""
        return str(self.query_one(f"#{select_id}", Select).value)

    def _update_help(self) -> None:
        self.query_one("#partition-help", Static).update(PARTITION_HELP[self._choice("partition")])
        self.query_one("#lr-help", Static).update(
            lr_help(self._choice("lr_schedule"), self._field_value("lr_patience"), self._field_value("lr_factor"))
        )

    def _field_value(self, name: str):
        """A training setting as the form has it now, or None where it does not parse."""
        try:
            return parse_text(TrainConfig, name, self.query_one(f"#{name}", Input).value.strip())
        except ValueError:
            return None

    def action_cycle_preset(self) -> None:
        sel = self.query_one("#preset", Select)
        names = list(PRESET_NAMES)
        sel.value = names[(names.index(self._choice("preset")) + 1) % len(names)]

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    def action_start(self) -> None:
        if self._fitting() and not self._by_hand and self.app.training.fit_under_way:
            # the form still holds the last fit's values (another budget's): pressed during the
            # measurement, they started a 30-second run with the five-minute model and its eval interval
            self._start_when_fitted = True
            self.notify("Training starts as soon as the model is fitted to the budget.", title="Fit to budget")
            return
        try:
            model_kw, cfg = self.read_values()
        except ConfigError as e:
            self.notify(str(e), severity="error", title="Invalid setting")
            return
        self.app.training.model_kw, self.app.training.config = model_kw, cfg
        self.app.training.start()
