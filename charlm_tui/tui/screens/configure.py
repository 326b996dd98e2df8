"""Configure a run: model and training settings, presets, live parameter count and time estimate.
Invalid values are refused inline with the reason."""

from __future__ import annotations

import contextlib
import dataclasses

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, Footer, Header, Input, Label, Select, Static

from charlm_tui import formatting
from charlm_tui.core.cells import cell_names
from charlm_tui.core.config import (
    LR_SCHEDULES,
    PARTITIONS,
    PRECISIONS,
    PRESETS,
    ModelConfig,
    TrainConfig,
    check_fits_memory,
    count_parameters,
    estimate_epoch_seconds,
    steps_per_epoch,
)
from charlm_tui.core.errors import ConfigError
from charlm_tui.tui.screens.base import AppScreen
from charlm_tui.tui.widgets.history_input import SteadyInput

PARTITION_HELP = {
    "sequential": "sequential: B parallel streams; the hidden state carries over between batches (detached)",
    "random": "random: shuffled subsequences at random offsets; the hidden state is reset every batch",
}
LR_HELP = {
    "plateau": "LR plateau: constant learning rate, halved when val ppl stops improving",
    "cosine": "LR cosine: warmup, then decay until the budget runs out; halved on plateaus",
}
# field id -> (label, kind, section)
FIELDS = {
    "embed_dim": ("embedding", int, "model"),
    "hidden_size": ("hidden", int, "model"),
    "num_layers": ("layers", int, "model"),
    "dropout": ("dropout", float, "model"),
    "batch_size": ("batch", int, "train"),
    "num_steps": ("BPTT len", int, "train"),
    "lr": ("learn rate", float, "train"),
    "clip": ("grad clip", float, "train"),
    "weight_decay": ("weight decay", float, "train"),
    "eval_every": ("eval every", int, "train"),
    "patience": ("patience", int, "train"),
    "max_epochs": ("max epochs", int, "train"),
    "max_minutes": ("max minutes", float, "train"),
    "seed": ("seed", int, "train"),
}


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
        Binding("ctrl+s", "start", "Start training", priority=True, tooltip="start training"),
        Binding("ctrl+r", "cycle_preset", "Next preset", priority=True, tooltip="next preset"),
        Binding("ctrl+t", "new_run", "New run instead", priority=True, tooltip="fine-tuning: a new run instead"),
    ]
    SHAPE_FIELDS = ("cell", "embed_dim", "hidden_size", "num_layers")  # locked while fine-tuning

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="config-scroll"):
            yield Static("", id="config-corpus")
            with Horizontal(classes="config-selects"):
                yield Label("preset")
                yield Select([(p, p) for p in PRESETS], value="default", allow_blank=False, id="preset")
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
            yield Static(LR_HELP["plateau"], id="lr-help")
            with Grid(id="config-grid"):
                for fid, (label, _kind, _sec) in FIELDS.items():
                    yield Label(label)
                    yield SteadyInput(id=fid, classes="compact")
            yield SaidCheckbox("TensorBoard log (event files in the run folder)", id="tensorboard")
            yield Static("", id="config-summary")
            yield Static("", id="config-error")
            yield Button("Start training (ctrl+s)", id="start", variant="success")
        yield Footer(compact=True, show_command_palette=False)  # ctrl+p still opens it; ? says so

    def on_mount(self) -> None:
        self.load_values(self.app.training.model_kw, self.app.training.config)
        # the presets first: not a text box, so a digit pressed on arrival switches screens instead of
        # replacing a field's selected value (2 then 3 set the embedding to 3); Tab walks the form
        self.query_one("#preset", Select).focus()

    def on_screen_resume(self) -> None:
        if self.app.training.fine_tune is not None or self.query_one("#cell", Select).disabled:
            self.load_values(self.app.training.model_kw, self.app.training.config)
        self.update_summary()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "new_run":
            return self.app.training.fine_tune is not None
        return True

    def action_new_run(self) -> None:
        self.app.training.fine_tune = None
        self.load_values(self.app.training.model_kw, self.app.training.config)
        self.refresh_bindings()

    def load_values(self, model_kw: dict, cfg: TrainConfig) -> None:
        values = {**model_kw, **dataclasses.asdict(cfg)}
        values["max_minutes"] = "" if cfg.max_seconds is None else f"{cfg.max_seconds / 60:g}"
        for fid in FIELDS:
            v = values.get(fid, "")
            self.query_one(f"#{fid}", Input).value = "" if v is None else f"{v:g}" if isinstance(v, float) else str(v)
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
        self.update_summary()

    def read_values(self) -> tuple[dict, TrainConfig]:
        """Parse and validate the form; raise ConfigError naming the field."""
        parsed: dict = {}
        bad: list[str] = []  # every field that does not parse, not only the first
        for fid, (label, kind, _sec) in FIELDS.items():
            box = self.query_one(f"#{fid}", Input)
            raw = box.value.strip()
            if fid == "max_minutes" and raw == "":
                parsed[fid] = None
                box.remove_class("-invalid")
                continue
            try:
                parsed[fid] = kind(raw)
                box.remove_class("-invalid")
            except ValueError:
                box.add_class("-invalid")
                bad.append(f"{label}: {raw!r} is not a {'whole number' if kind is int else 'number'}")
        if bad:
            raise ConfigError("; ".join(bad))
        model_kw = {k: parsed[k] for k, (_l, _k, sec) in FIELDS.items() if sec == "model"}
        model_kw["cell"] = self._choice("cell")
        mm = parsed.pop("max_minutes")
        train = {k: parsed[k] for k, (_l, _k, sec) in FIELDS.items() if sec == "train" and k != "max_minutes"}
        if mm is not None and mm <= 0:
            raise ConfigError("max minutes must be positive (or empty for no time limit)")
        cfg = dataclasses.replace(
            self.app.training.config,
            **train,
            max_seconds=None if mm is None else mm * 60,
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
        chars = c.split_sizes(cfg.val_fraction)[0] if c else 0
        est = estimate_epoch_seconds(mcfg, chars, self.app.training.measured_flops) if chars else None
        steps = steps_per_epoch(chars, cfg.batch_size, cfg.num_steps, cfg.partition)
        txt = f"parameters {n:,}   steps/epoch {steps:,}"
        if est is not None:
            txt += f"   ≈{formatting.duration(est)} per epoch here"
        self.query_one("#config-summary", Static).update(txt)

    @on(Input.Changed)
    def _changed(self, _event) -> None:
        self.update_summary()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset" and event.value in PRESETS:
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
        self.query_one("#lr-help", Static).update(LR_HELP[self._choice("lr_schedule")])

    def action_cycle_preset(self) -> None:
        sel = self.query_one("#preset", Select)
        names = list(PRESETS)
        sel.value = names[(names.index(self._choice("preset")) + 1) % len(names)]

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    def action_start(self) -> None:
        try:
            model_kw, cfg = self.read_values()
        except ConfigError as e:
            self.notify(str(e), severity="error", title="Invalid setting")
            return
        self.app.training.model_kw, self.app.training.config = model_kw, cfg
        self.app.training.start()
