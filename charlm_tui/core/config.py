"""Boundary types shared by the engine, the CLI and the TUI. No torch here: the TUI imports this
at start-up to build forms and show runs without paying for a torch import."""

from __future__ import annotations

import math
import os
from dataclasses import MISSING, asdict, dataclass
from typing import Literal

from charlm_tui.core.cells import cell_names, cell_shape
from charlm_tui.core.errors import ConfigError
from charlm_tui.core.settings import bound_problems, check_types, setting, settings_of

DEFAULT_CORPUS = "python-docs"  # built in, no download (core.catalog)
PARTITIONS = ("sequential", "random")
PRECISIONS = ("auto", "fp32", "bf16")  # core.training.precision
BF16_MIN_SPEEDUP = 1.15  # auto picks bf16 only when it trains at least this much faster
DEVICES = ("auto", "cpu", "cuda", "mps")
LR_SCHEDULES = ("plateau", "cosine")
COSINE_FLOOR = 0.02  # the cosine schedule ends at this fraction of the peak LR
LN2 = math.log(2.0)


def decide(fp32_chars_per_s: float, bf16_chars_per_s: float) -> str:
    """What auto precision trains in, from the two measured speeds: bf16 only when it is clearly
    faster (a small gain is not worth its rounding)."""
    return "bf16" if bf16_chars_per_s >= BF16_MIN_SPEEDUP * fp32_chars_per_s else "fp32"


def perplexity(nll: float) -> float:
    """exp(mean NLL); inf where that overflows a float (a diverged model), never an error."""
    return math.exp(nll) if nll < 700.0 else math.inf


# Bounds a person can act on: a shape past them is a typo, or a model no machine here trains
MAX_WIDTH = 65_536
MAX_LAYERS = 64
MAX_VOCAB = 0x110000 + 1
MAX_SEED = 2**63 - 1
# float settings a person could mean: Adam past an LR of 1 only diverges (--lr 1e30 trained to ppl inf)
MAX_LR = 1.0
MAX_CLIP = 1e12  # 1e9 is how a script says "no clipping"
MAX_SECONDS = 366 * 24 * 3600


def training_bytes(model: ModelConfig, batch_size: int, num_steps: int) -> int:
    """Rough memory to train: weights, gradients, two Adam moments and a best copy (5 x the
    parameters), plus the activations of one batch (embedding, gates and states of each layer,
    logits and their gradient), all fp32."""
    gates = cell_shape(model.cell).gates
    tokens = batch_size * num_steps
    per_token = model.embed_dim + model.num_layers * model.hidden_size * (gates + 3) + 3 * model.vocab_size
    return 4 * (5 * count_parameters(model) + tokens * per_token)


def memory_bytes() -> int:
    """This machine's physical memory (8 GiB when the platform cannot say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 8 << 30


def check_fits_memory(
    model: ModelConfig, cfg: TrainConfig, available: int | None = None, where: str = "this machine"
) -> None:
    """Refuse, before anything is allocated, a model that cannot train in the memory there is."""
    available = memory_bytes() if available is None else available
    need = training_bytes(model, cfg.batch_size, cfg.num_steps)
    if need > 0.8 * available:
        raise ConfigError(
            f"this model needs about {need / 2**30:,.1f} GiB to train ({count_parameters(model):,} "
            f"parameters, batch {cfg.batch_size} x {cfg.num_steps}), more than {where} has "
            f"({available / 2**30:,.1f} GiB); use a smaller hidden size, fewer layers or a smaller batch"
        )


def check_loads(model: ModelConfig, what: str, available: int | None = None) -> None:
    """Refuse, before anything is allocated, to build a saved model that cannot fit in memory
    (its weights and the loaded copy of them): a hand-edited config.json within every limit can
    still ask for hundreds of GiB."""
    available = memory_bytes() if available is None else available
    need = 8 * count_parameters(model)
    if need > 0.8 * available:
        raise ConfigError(
            f"{what} describes a model of {count_parameters(model):,} parameters ({model.num_layers} x "
            f"{model.hidden_size:,} {model.cell}), about {need / 2**30:,.1f} GiB to load, more than this machine "
            f"has ({available / 2**30:,.1f} GiB); the file may be damaged or hand-edited"
        )


# LR patience that never runs out: no plateau cuts (fit to budget: the cosine alone); "off" on the
# form and the command line
LR_PATIENCE_OFF = 1_000_000


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = setting(
        MISSING,
        "vocabulary size",
        lo=2,
        hi=MAX_VOCAB,
        flag=None,
        form=False,
        internal="the corpus's characters, plus <unk>",
    )
    cell: str = setting("lstm", "cell", choices=cell_names, help="the recurrent cell")
    embed_dim: int = setting(64, "embedding", lo=1, hi=MAX_WIDTH, help="embedding size")
    hidden_size: int = setting(256, "hidden", lo=1, hi=MAX_WIDTH, help="hidden units per layer")
    num_layers: int = setting(2, "layers", lo=1, hi=MAX_LAYERS, help="recurrent layers")
    dropout: float = setting(
        0.2,
        "dropout",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        help="locked dropout on the embeddings, between layers and before the output",
    )
    weight_drop: float = setting(
        0.0,
        "weight drop",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        help="DropConnect on the recurrent (hidden-to-hidden) weights: a fresh mask each training step",
    )

    def validate(self) -> ModelConfig:
        check_types(self)
        cell_shape(self.cell)  # ConfigError naming the cells there are
        problems = bound_problems(self)
        if problems:
            raise ConfigError("; ".join(problems))
        return self

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> ModelConfig:
        known = {k: obj[k] for k in cls.__dataclass_fields__ if k in obj}
        return cls(**known).validate()


SHAPE = ("cell", "embed_dim", "hidden_size", "num_layers")  # what the weights' shapes follow
# the rest of a model's settings (not the vocabulary): training-time regularisers, which a
# fine-tuned run or a form may change without changing the weights
REGULARISERS = tuple(f for f in ModelConfig.__dataclass_fields__ if f not in (*SHAPE, "vocab_size"))


def count_parameters(cfg: ModelConfig) -> int:
    """Parameter count without building the model (cheap enough for a live form)."""
    gates = cell_shape(cfg.cell).gates
    n = cfg.vocab_size * cfg.embed_dim + cfg.hidden_size * cfg.vocab_size + cfg.vocab_size
    for layer in range(cfg.num_layers):
        inp = cfg.embed_dim if layer == 0 else cfg.hidden_size
        n += gates * cfg.hidden_size * (inp + cfg.hidden_size + 2)
    return n


def flops_per_char(cfg: ModelConfig) -> float:
    """Forward+backward FLOPs per trained character (3x the forward multiply-adds x 2)."""
    gates = cell_shape(cfg.cell).gates
    macs = cfg.hidden_size * cfg.vocab_size
    for layer in range(cfg.num_layers):
        inp = cfg.embed_dim if layer == 0 else cfg.hidden_size
        macs += gates * cfg.hidden_size * (inp + cfg.hidden_size)
    return 6.0 * macs


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = setting(32, "batch", lo=1, help="streams trained side by side")
    num_steps: int = setting(64, "BPTT len", lo=1, help="BPTT length: characters per stream per step")
    partition: str = setting(
        "sequential",
        "partition",
        choices=PARTITIONS,
        help="sequential: streams carry their state across batches; random: shuffled subsequences, state reset",
    )
    lr: float = setting(3e-3, "learning rate", lo=0.0, lo_open=True, hi=MAX_LR, form_label="learn rate")
    clip: float = setting(1.0, "grad clip", lo=0.0, lo_open=True, hi=MAX_CLIP, help="gradient norm clipping threshold")
    eval_every: int = setting(200, "eval every", lo=1, help="evaluate every N steps (and at least once per epoch)")
    patience: int = setting(5, "patience", lo=1, help="evaluations without improvement before stopping early")
    # plateau: constant LR, cut on plateaus; cosine: linear warmup over warmup_steps, then cosine decay
    # to the end of the budget (max seconds/steps/epochs), with the plateau cuts on top
    lr_schedule: str = setting(
        "plateau",
        "LR schedule",
        choices=LR_SCHEDULES,
        help="plateau: constant LR, halved when val ppl plateaus; cosine: warmup, then cosine decay to the end of the budget, plateau cuts on top",
    )
    warmup_steps: int = setting(0, "warmup steps", lo=0, help="cosine schedule: linear warmup over N steps")
    lr_patience: int = setting(
        1,
        "LR patience",
        lo=0,
        off=LR_PATIENCE_OFF,
        help="evaluations without improvement before the LR is cut (off: never)",
    )
    lr_factor: float = setting(
        0.5, "LR factor", lo=0.0, hi=1.0, lo_open=True, hi_open=True, help="what a plateau cut multiplies the LR by"
    )
    min_lr: float = setting(1e-5, "minimum LR", lo=0.0, hi=MAX_LR, help="plateau cuts stop here")
    max_epochs: int = setting(50, "max epochs", lo=1)
    max_steps: int | None = setting(None, "max steps", lo=1)
    max_seconds: float | None = setting(
        None,
        "max seconds",
        lo=0.0,
        lo_open=True,
        hi=MAX_SECONDS,
        help="the time budget (the form: max minutes; empty: none)",
        form_label="max minutes",
        form_scale=60.0,
    )
    seed: int = setting(1337, "seed", lo=0, hi=MAX_SEED)
    val_fraction: float = setting(
        0.1,
        "val fraction",
        lo=0.0,
        hi=1.0,
        lo_open=True,
        hi_open=True,
        help="the share of the corpus held out for validation (its end)",
    )
    device: str = setting("auto", "device", choices=DEVICES)
    # evaluate (and keep as best) an exponential moving average of the weights with this decay; 0 = off
    ema: float = setting(
        0.0,
        "EMA decay",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        help="evaluate, and keep as best, a moving average of the weights with this decay (e.g. 0.999; 0 = off)",
    )
    # AdamW's decoupled weight decay (0: plain Adam): each step shrinks every weight by lr x weight_decay
    weight_decay: float = setting(
        0.0, "weight decay", lo=0.0, hi=1.0, help="AdamW's decoupled weight decay on every weight (0 = plain Adam)"
    )
    # the training step's arithmetic: auto measures fp32 against bf16 autocast here and picks (core.training.precision)
    precision: str = setting(
        "auto",
        "precision",
        choices=PRECISIONS,
        help="the training step's arithmetic: auto measures fp32 against bf16 here (cached) and picks bf16 only if clearly faster",
    )
    event_interval: float = setting(
        0.25,
        "event interval",
        lo=0.0,
        flag=None,
        form=False,
        internal="how often the trainer reports progress: the app and the CLI choose it, not the user",
    )
    # also log each evaluation to TensorBoard event files in the run folder (the optional extra)
    tensorboard: bool = setting(
        False,
        "TensorBoard log",
        flag="--log-to",
        help="also log each evaluation to TensorBoard event files in the run folder",
    )

    def validate(self) -> TrainConfig:
        """Check every setting; ConfigError naming all that are wrong (not only the first)."""
        check_types(self)
        problems = bound_problems(self)
        if problems:
            raise ConfigError("; ".join(problems))
        return self

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> TrainConfig:
        return cls(**{k: obj[k] for k in cls.__dataclass_fields__ if k in obj}).validate()


EventKind = Literal["start", "progress", "evaluating", "eval", "best", "lr_reduced", "paused", "resumed", "done"]


@dataclass
class TrainEvent:
    kind: EventKind
    step: int
    epoch: float
    total_steps: int | None = None
    train_loss: float | None = None
    val_nll: float | None = None
    val_ppl: float | None = None
    val_bpc: float | None = None
    lr: float | None = None
    chars_per_s: float | None = None
    elapsed: float = 0.0
    eta: float | None = None
    best_val_nll: float | None = None
    best_val_ppl: float | None = None
    best_val_bpc: float | None = None
    patience_left: int | None = None
    reason: str | None = None
    message: str = ""
    budget: float | None = None  # how far through its limits the run is, 0..1 (steps, epochs or time)
    time_budget: float | None = None  # max_seconds, when the run has a time limit
    precision: str | None = None  # start: what the training step runs in (fp32, bf16, fp16)
    lr_cut_from: float | None = None  # eval: the LR before this evaluation's plateau cut (None: no cut)

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None and v != ""}

    @classmethod
    def from_metrics(cls, m: dict, **extra) -> TrainEvent:
        """The eval event for one line of a run's metrics.jsonl (following another process's run)."""
        return cls(
            "eval",
            m["step"],
            m.get("epoch", 0.0),
            train_loss=m.get("train_loss"),
            val_nll=m["val_nll"],
            val_ppl=m["val_ppl"],
            val_bpc=m["val_bpc"],
            lr=m.get("lr"),
            chars_per_s=m.get("chars_per_s"),
            elapsed=m.get("elapsed", 0.0),
            patience_left=m.get("patience_left"),
            lr_cut_from=m.get("lr_cut_from"),
            **extra,
        )


# Presets: model keyword arguments and training settings. "default" is what the app starts with
# (and what `charlm-tui train` starts from without --preset: DEFAULT_PRESET).
# the training side of the five-minute presets (evaluating every 400 steps, not 200: +5% steps;
# AdamW's weight decay 0.1: tiny Shakespeare 1.445 -> 1.411 in fp32, 1.447 -> 1.408 in bf16, where
# the default model ran many epochs and overfitted)
_FIVE_MINUTES = {
    "batch_size": 32,
    "num_steps": 64,
    "lr": 3e-3,
    "lr_schedule": "cosine",
    "warmup_steps": 100,
    "eval_every": 400,
    "max_seconds": 300.0,
    "weight_decay": 0.1,
}
PRESETS: dict[str, tuple[dict, dict]] = {
    "quick": (
        {"cell": "lstm", "embed_dim": 32, "hidden_size": 128, "num_layers": 1, "dropout": 0.0},
        {
            "batch_size": 32,
            "num_steps": 64,
            "lr": 3e-3,
            "lr_schedule": "cosine",
            "warmup_steps": 50,
            "eval_every": 100,
            "max_seconds": 120.0,
            "weight_decay": 0.0,
        },
    ),
    # the best text in 5 minutes on a 2-core CPU (benchmarks/quality.py; README "Performance")
    "default": (
        {"cell": "lstm", "embed_dim": 64, "hidden_size": 256, "num_layers": 2, "dropout": 0.1},
        {**_FIVE_MINUTES},
    ),
    # (fast-cpu, 2 x 512 for the default's five minutes on a CPU with fast bf16, is gone: fit to
    # budget takes 2 x 512 where the budget pays for it, and at five minutes the sizing sweep had
    # it lose to 2 x 256, 1.409 against 1.398, as the five-minute runs had it tie at best)
    "large": (
        {"cell": "lstm", "embed_dim": 128, "hidden_size": 512, "num_layers": 3, "dropout": 0.3},
        {
            "batch_size": 64,
            "num_steps": 100,
            "lr": 2e-3,
            "lr_schedule": "plateau",
            "warmup_steps": 0,
            "eval_every": 300,
            "max_seconds": None,
            "weight_decay": 0.0,
        },
    ),
}

# "fit to budget": the model sized to the budget (max seconds), the corpus and this machine's measured
# speed (core.sizing, core.training.fit); what a new run trains with unless told otherwise, in the
# app's form and in `train` alike
FIT_PRESET = "fit"
DEFAULT_PRESET = FIT_PRESET
PRESET_NAMES = (FIT_PRESET, *PRESETS)
PRESET_LABELS = {FIT_PRESET: "fit to budget"}  # how the form names a preset, where not by its name
FIXED_DEFAULT = "default"  # the fixed preset where fitting does not apply (fine-tuning keeps its parent's shape)

# Effective training FLOP/s assumed for time estimates before this machine has been measured
# (a 2-core AVX-512 CPU reaches about 1.6e11 on the default model).
ASSUMED_FLOPS = 1.6e11


def steps_per_epoch(n_chars: int, batch_size: int, num_steps: int, partition: str = "sequential") -> int:
    """Training steps in one pass over ``n_chars`` characters (the batchers' own arithmetic, without
    torch, for the Configure form): sequential cuts the text, less ``sequential_spare`` characters for the
    epochs' offsets, into ``batch_size`` streams and walks them ``num_steps`` at a time (the last batch
    may be shorter); random takes the same number of whole
    subsequences from every random offset."""
    if n_chars < 2:
        return 0
    if partition == "random":
        return max(0, (n_chars - num_steps) // num_steps // batch_size)
    spare = sequential_spare(n_chars, batch_size, num_steps)
    return -(-((n_chars - 1 - spare) // batch_size) // num_steps)


def sequential_spare(n_chars: int, batch_size: int, num_steps: int) -> int:
    """Characters a sequential training partition keeps free at the end so that each epoch can
    start at its own offset in [0, spare]: up to ``num_steps`` - 1, never so many that a text which
    fits one batch no longer does."""
    return max(0, min(num_steps - 1, n_chars - 1 - batch_size * num_steps))


def estimate_epoch_seconds(cfg: ModelConfig, train_chars: int, flops_per_s: float = ASSUMED_FLOPS) -> float:
    return train_chars * flops_per_char(cfg) / flops_per_s


TEMPERATURE_MAX = 5.0
REPETITION_PENALTY_MAX = 10.0
REPETITION_WINDOW_MAX = 10_000
STOP_MAX_CHARS = 200  # a stop string longer than this is refused
MAX_BEST_OF = 64  # continuations drawn side by side
MAX_BEAM = 64  # beam width


def new_seed() -> int:
    """A fresh seed for a stream, short enough to read off the screen and type back."""
    import secrets

    return secrets.randbelow(1_000_000)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def stop_from_text(s: str) -> str:
    """A stop string as typed: \\n, \\t, \\r and \\\\ stand for a newline, tab, return and a
    backslash; any other backslash is itself."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in _ESCAPES:
            out.append(_ESCAPES[s[i + 1]])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def stop_to_text(s: str) -> str:
    """The inverse of ``stop_from_text``, for showing a stop string on one line."""
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


@dataclass
class SamplingControl:
    """How the next character is drawn, read by the sampler before every character (mutable on
    purpose: the REPL changes it while a stream runs). The neutral value of each filter turns it
    off; the order they apply in is written in ``charlm_tui.core.model.sampling``."""

    temperature: float = setting(
        0.8, "temperature", lo=0.0, hi=TEMPERATURE_MAX, help="0 = greedy (the likeliest character), up to 5"
    )
    top_k: int | None = setting(None, "top-k", lo=0, help="keep the K likeliest characters (0 = all)")
    top_p: float = setting(
        1.0,
        "top-p",
        lo=0.0,
        lo_open=True,
        hi=1.0,
        neutral=1.0,
        help="nucleus: keep the likeliest characters until their probabilities sum to P (1 = off)",
    )
    min_p: float = setting(
        0.0,
        "min-p",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        neutral=0.0,
        help="keep characters at least P times as likely as the likeliest (0 = off)",
    )
    repetition_penalty: float = setting(
        1.0,
        "repetition penalty",
        lo=1.0,
        hi=REPETITION_PENALTY_MAX,
        neutral=1.0,
        help="divide the probability of recently seen characters by this (1 = off)",
    )
    repetition_window: int = setting(
        64,
        "repetition window",
        lo=1,
        hi=REPETITION_WINDOW_MAX,
        help="how many of the last characters the penalty looks at",
    )
    # the stream ends when one of these appears in the generated text (its flag is written by hand:
    # repeatable, with \n for a newline)
    stop: tuple[str, ...] = setting(
        (), "stop", flag=None, help="end the text where this appears (repeatable; \\n is a newline)"
    )

    def __post_init__(self):
        self.set_temperature(self.temperature)
        self.check()

    def set_temperature(self, t: float) -> float:
        self.temperature = max(0.0, min(TEMPERATURE_MAX, float(t)))
        return self.temperature

    def check(self) -> None:
        """Raise ConfigError for a value the sampler cannot use (the CLI and the REPL clamp first);
        the bounds are the fields' own (core.settings)."""
        if isinstance(self.top_k, float) and self.top_k.is_integer():
            self.top_k = int(self.top_k)  # 3.0 typed or computed: the whole number it is
        check_types(self)
        problems = bound_problems(self)
        if problems:
            raise ConfigError("; ".join(problems))
        for s in self.stop:
            if not s or len(s) > STOP_MAX_CHARS:
                raise ConfigError(f"a stop string must be 1 to {STOP_MAX_CHARS} characters, not {s!r}")

    @property
    def neutral_filters(self) -> bool:
        """No filter beyond temperature and top-k is on: the sampler takes its fast path. Every
        setting with a neutral value is such a filter: a new one is counted without a word here."""
        return all(
            getattr(self, name) == s.neutral
            for name, s in settings_of(SamplingControl).items()
            if s.neutral is not None
        )
