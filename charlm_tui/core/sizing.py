"""The model for the user's minutes: a shape and its training settings chosen from the budget,
the corpus's training characters and this machine's measured speed of each candidate shape.

No torch here (the Configure form uses it live); the speeds come from
``core.training.fit`` (measured, cached per machine like the precision) or, in tests, are given.

The rule, and where each number comes from (benchmarks/sizing.py, a warmup-stable-decay sweep
whose raw lines are in benchmarks/results/sizing-*.jsonl; the 30-minute product runs and the
five-minute runs are in README "Performance"; all on a 2-core Xeon with AMX, bf16):

1. A candidate trains ``budget x speed x EFFICIENCY`` characters. The largest candidate that still
   gets at least ``CHARS_PER_PARAM`` characters per parameter wins. In five minutes on tiny
   Shakespeare 2 x 256 (23 chars per parameter) beat 2 x 512 (2.1) in the sweep, 1.398 against
   1.409 nats (fp32: 1.425 against 1.474), and 2 x 384 (5.9) ended 0.003-0.005 behind in the
   earlier five-minute runs: the bar sits above 5.9. In 30 minutes 2 x 512 (12.5) with the rest of
   this rule reached 1.391 against the default preset's 1.403 (one run each: 0.011 better, inside
   the 0.02 the README gives for seed noise).
2. A model never gets more than ``MAX_PARAMS_PER_CHAR`` parameters per training character of the
   corpus (char-rnn's advice: parameters of the order of the dataset's characters; a 20 KB text
   gets a small model however long the budget), nor more memory than the device has.
3. Regularisation follows the epochs the budget means (Muennighoff et al. 2023: up to ~4 epochs
   repeated data is as good as new, its value fades by ~16): dropout rises with the epochs
   (``DROPOUT_BY_EPOCHS``: 0.1 at the five-minute default's 20-27 epochs, where 0.1 and 0.2 tied;
   0.4 at 42 epochs of 2 x 512, where 0.25 left the training loss at 1.06 against 1.40 on
   validation), and it is at least 0.4 for a model of a parameter or more per training character
   (``PARAMS_PER_CHAR_HEAVY``: on python-code 2 x 512 with dropout 0.1 overfitted after 4 of its
   14 epochs, 1.248, where 0.4 reached 1.159); AdamW's weight decay 0.1 throughout (1.447 -> 1.408
   on tiny Shakespeare in five minutes, the biggest gain of the five-minute sweeps).
4. The schedule: linear warmup, cosine decay to the end of the budget (the time limit), without
   the plateau cuts of the presets (they took the LR of the 30-minute run to 4e-5 by minute 22);
   the LR falls with the width (2e-3 at 2 x 512: 1.410 against 1.412 at 3e-3).

What is not measured yet: a budget past 30 minutes. At 30 minutes the rule beat the default preset
by 0.045 on a 12 MB code corpus (2 x 512, dropout 0.1, 2.8 epochs: 1.061 against 1.106), by 0.032
on python-code (1.159 against 1.191) and by 0.011 on tiny Shakespeare (benchmarks/results/fit-30m.jsonl).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from charlm_tui.core.config import (
    LR_PATIENCE_OFF,
    MAX_SECONDS,
    ModelConfig,
    TrainConfig,
    count_parameters,
    decide,
    flops_per_char,
    training_bytes,
)
from charlm_tui.core.errors import ConfigError
from charlm_tui.core.settings import settings_of, shown

DEFAULT_BUDGET_S = 300.0  # five minutes, as the presets
# the five-minute sweeps: batch 16 and 48-128 lost, BPTT 48 tied, 100 lost; in 30 minutes' steps on
# tiny Shakespeare (2 x 384, dropout 0.35) batch 16 was 0.005 better than 32 (1.383 against 1.388),
# inside the noise, and batch 8 was behind 16
BATCH, BPTT = 32, 64
CHARS_PER_PARAM = 8.0
MAX_PARAMS_PER_CHAR = 4.0
WEIGHT_DECAY = 0.1
WARMUP_STEPS = 100
# (epochs at most, dropout): the first row whose epochs are >= the budget's
DROPOUT_BY_EPOCHS: tuple[tuple[float, float], ...] = ((2.0, 0.0), (30.0, 0.1), (80.0, 0.4), (math.inf, 0.5))
# a model with a parameter or more per training character memorises its corpus within a few epochs,
# however few the budget means: python-code (2.7M training characters) with 2 x 512 (1.24
# parameters per character) in 30 minutes, 14 epochs: dropout 0.1 peaked at 1.248 after 3.7 epochs
# (training loss 0.86) and rose from there; dropout 0.4 reached 1.159 after 12.5 epochs, still
# falling at the end (the default preset in the same 30 minutes: see README "Performance"). Below
# the bar the epochs alone decide: tiny Shakespeare's five-minute 2 x 256 (0.87 per character) tied
# at dropout 0.1 and 0.2
PARAMS_PER_CHAR_HEAVY = 1.0
HEAVY_DROPOUT = 0.4
# the LR follows the cosine alone (no plateau cuts on top): in the 30-minute run on tiny Shakespeare
# with dropout 0.25 the cuts had taken the LR to 4e-5 by minute 22 while the training loss went on
# falling to 1.06 (validation 1.398); with dropout 0.4 and the cosine alone, validation 1.391:
# train_kw sets LR patience to LR_PATIENCE_OFF ("off" on the form)

# a real run's characters per second against the measured median speed of a cold step: a warm run
# is faster than the few steps timed on a fresh model, evaluations cost less than that gains (the
# default preset on tiny Shakespeare in 300 s: 10,836 steps in bf16 where 69.3k chars/s predict
# 10,151, 1.07x; 5,939 in fp32 where 35.6k predict 5,215, 1.14x)
EFFICIENCY = 1.1
# about EVALS evaluations in a budget, but at most EVAL_SHARE of it spent evaluating: on a 12 MB
# corpus each evaluation reads 1M validation characters; the fitted 30-minute run there (2 x 512,
# bf16) spent a fifth of its time in 15 of them (about 21 s each against 21.3k chars/s of training:
# 2.2x as fast), the default preset's 2 x 256 42% of its own in 78 (7 s each, 1.7x its 85.6k).
# EVAL_SPEEDUP, how much faster evaluation reads characters than training trains on them, is the
# lower of the two
EVALS, MIN_EVALS = 25, 5
EVAL_SHARE = 0.1
EVAL_SPEEDUP = 1.7
# The most validation characters one evaluation reads: the first MAX_EVAL_CHARS of the split (a
# 268 MB corpus's 10% split took minutes per evaluation with a small batch). A run whose split is
# longer says so when it starts; `charlm-tui eval` still reads the whole split.
MAX_EVAL_CHARS = 1_000_000
# from this share of a run's time spent evaluating, the Configure form and the run's first line say
# so (the default preset's every 400 steps on the 12 MB corpus: 42%)
EVAL_SHARE_NOTE = 0.2
MEMORY_SHARE = 0.8  # the most of the device's memory a choice may plan to use


@dataclass(frozen=True)
class Candidate:
    layers: int
    hidden: int
    embed: int
    lr: float

    @property
    def name(self) -> str:
        return f"{self.layers}x{self.hidden}"

    def model_config(self, vocab: int, dropout: float = 0.0) -> ModelConfig:
        return ModelConfig(
            vocab_size=vocab,
            cell="lstm",
            embed_dim=self.embed,
            hidden_size=self.hidden,
            num_layers=self.layers,
            dropout=dropout,
        )

    def params(self, vocab: int) -> int:
        return count_parameters(self.model_config(vocab))


# LSTM only: in the five-minute sweeps a GRU 2 x 256 trained at 26k chars/s against the LSTM's 38k
# here and ended 0.005 worse at best (README); depth past 2 lost (3 x 256 1.453, 3 x 384 1.485)
CANDIDATES: tuple[Candidate, ...] = (
    Candidate(1, 64, 16, 3e-3),
    Candidate(1, 128, 32, 3e-3),
    Candidate(2, 128, 64, 3e-3),
    Candidate(2, 256, 64, 3e-3),
    Candidate(2, 384, 64, 2.5e-3),
    Candidate(2, 512, 64, 2e-3),
    Candidate(2, 768, 96, 1.5e-3),
    Candidate(2, 1024, 128, 1e-3),
    Candidate(2, 1536, 128, 7e-4),
    Candidate(2, 2048, 128, 5e-4),
)


@dataclass(frozen=True)
class Speed:
    """A candidate's measured training speed in characters per second, by precision."""

    fp32: float | None = None
    bf16: float | None = None
    source: str = "measured"  # measured | cached | spoiled (measured on a busy machine) | assumed

    def pick(self, precision: str) -> tuple[str, float]:
        """(the precision a run of this shape trains in, its speed) for the ``precision`` setting."""
        if precision == "fp32" or (precision == "auto" and not self.bf16):
            return "fp32", self.fp32 or 0.0
        if precision == "bf16" or not self.fp32:
            return "bf16", self.bf16 or 0.0
        used = decide(self.fp32, self.bf16 or 0.0)
        return used, (self.bf16 if used == "bf16" else self.fp32) or 0.0

    def to_json(self) -> dict:
        return {"fp32": self.fp32, "bf16": self.bf16, "source": self.source}


@dataclass(frozen=True)
class Choice:
    candidate: Candidate
    precision: str  # what it trains in (fp32 | bf16)
    chars_per_s: float
    budget_s: float
    train_chars: int
    dropout: float
    speeds: dict[str, Speed] = field(default_factory=dict)
    eval_chars: int = 0  # validation characters one evaluation reads (0: not known, EVALS evaluations)

    @property
    def chars(self) -> float:
        return self.budget_s * self.chars_per_s * EFFICIENCY

    @property
    def epochs(self) -> float:
        return self.chars / max(1, self.train_chars)

    @property
    def batch(self) -> tuple[int, int]:
        """(batch size, BPTT length) for this corpus (``batch_shape``)."""
        return batch_shape(self.train_chars)

    @property
    def steps(self) -> int:
        b, t = self.batch
        return int(self.chars // (b * t))

    @property
    def evaluations(self) -> int:
        """How many evaluations the budget pays for: EVALS, fewer where each is long."""
        if not self.eval_chars or not self.chars_per_s:
            return EVALS
        seconds = self.eval_chars / (self.chars_per_s * EVAL_SPEEDUP)
        return max(MIN_EVALS, min(EVALS, int(EVAL_SHARE * self.budget_s / seconds)))

    def model_kw(self) -> dict:
        c = self.candidate
        return {
            "cell": "lstm",
            "embed_dim": c.embed,
            "hidden_size": c.hidden,
            "num_layers": c.layers,
            "dropout": self.dropout,
            "weight_drop": 0.0,  # lost to dropout alone at 30 minutes (README "Performance"): a hand-set one is said
        }

    def train_kw(self) -> dict:
        batch, bptt = self.batch
        return {
            "batch_size": batch,
            "num_steps": bptt,
            "lr": self.candidate.lr,
            "lr_schedule": "cosine",
            "warmup_steps": WARMUP_STEPS,
            # never more often than every 200 steps
            "eval_every": max(200, int(round(self.steps / self.evaluations, -2))),
            "max_seconds": self.budget_s,
            "weight_decay": WEIGHT_DECAY,
            "lr_patience": LR_PATIENCE_OFF,
        }

    def reason(self) -> str:
        """One line: what was chosen and why."""
        c = self.candidate
        speed = self.speeds.get(c.name)
        how = {
            "cached": "measured earlier",
            "assumed": "assumed, not measured",
            "spoiled": "measured on a busy machine",
        }
        return (
            f"{c.layers} x {c.hidden} LSTM, batch {self.batch[0]}, dropout {self.dropout:g}, weight decay {WEIGHT_DECAY:g}: "
            f"about {_epochs_text(self.epochs)} of this corpus in {_budget_text(self.budget_s)} at "
            f"{self.chars_per_s / 1000:,.1f}k chars/s, {self.precision} "
            f"{how.get(speed.source if speed else 'assumed', 'measured')}"
        )

    def record(self) -> dict:
        """What config.json keeps of the choice."""
        return {
            "budget_s": self.budget_s,
            "train_chars": self.train_chars,
            "chosen": self.candidate.name,
            "precision": self.precision,
            "chars_per_s": round(self.chars_per_s, 1),
            "epochs": round(self.epochs, 2),
            "reason": self.reason(),
            "speeds": {k: v.to_json() for k, v in self.speeds.items()},
        }


def given_instead(choice: Choice, model_kw: Mapping, train_kw: Mapping) -> dict:
    """The settings given by hand that differ from the choice (the budget itself aside): they win,
    and the reason line must not claim the choice's values for them."""
    fitted = {**choice.model_kw(), **choice.train_kw()}
    given = {**model_kw, **train_kw}
    return {k: given[k] for k in fitted if k in given and k != "max_seconds" and given[k] != fitted[k]}


def given_text(given: Mapping) -> str:
    """'given instead: dropout 0.4, batch 4' (the settings' own labels)."""
    known = {**settings_of(ModelConfig), **settings_of(TrainConfig)}
    return "given instead: " + ", ".join(
        f"{known[k].label} {shown(known[k], v)}" if k in known else f"{k} {v}" for k, v in given.items()
    )


def _epochs_text(e: float) -> str:
    if e < 1:
        return f"{e:.1f} epochs"
    return f"{e:,.0f} epoch" + ("s" if round(e) != 1 else "")


def _budget_text(s: float) -> str:
    if s < 120:
        return f"{s:g} seconds"
    if s < 2 * 3600:
        return f"{s / 60:g} minutes"
    return f"{s / 3600:g} hours"


def batch_shape(train_chars: int) -> tuple[int, int]:
    """BATCH streams of BPTT characters, or, for a training text too short for one such batch
    (BATCH x BPTT + 1 characters: a 2 KB corpus failed at the start), as many streams of BPTT as it
    holds, and below one of those a single shorter stream."""
    if train_chars <= 0 or train_chars > BATCH * BPTT:
        return BATCH, BPTT
    if train_chars > BPTT:
        return (train_chars - 1) // BPTT, BPTT
    return 1, max(1, train_chars - 1)


def evaluation_share(eval_chars: int, interval_steps: int, chars_per_step: int) -> float:
    """The part of a run's time its evaluations take: each reads ``eval_chars`` validation characters
    EVAL_SPEEDUP times as fast as training trains on them, once every ``interval_steps`` steps of
    ``chars_per_step`` (batch x BPTT length). The machine's speed cancels out."""
    e = eval_chars / EVAL_SPEEDUP
    t = interval_steps * chars_per_step
    return e / (e + t) if e > 0 and t > 0 else 0.0


def interval_for_share(eval_chars: int, chars_per_step: int, share: float = EVAL_SHARE) -> int:
    """The steps between evaluations that keep them to ``share`` of the time, rounded up to two
    significant digits (a number to type: 2,586 -> 2,600)."""
    n = max(1, math.ceil(eval_chars / EVAL_SPEEDUP * (1 - share) / share / max(1, chars_per_step)))
    unit = 10 ** max(0, len(str(n)) - 2)
    return -(-n // unit) * unit


def eval_interval(eval_every: int, steps_per_epoch: int) -> int:
    """Steps between evaluations: ``eval_every``, but at least once per epoch (on a small corpus
    a preset's interval can be many epochs, and the charts would wait that long for a point)."""
    return min(eval_every, steps_per_epoch)


def evaluation_note(
    val_chars: int, eval_every: int, batch_size: int, num_steps: int, steps_per_epoch: int
) -> str | None:
    """One line when a run's evaluations (at most MAX_EVAL_CHARS of its ``val_chars`` each, at its
    ``eval_interval``) would take EVAL_SHARE_NOTE of the time or more, with what to change: the
    interval, or (where at least one evaluation per epoch already needs more) the validation
    fraction. None otherwise."""
    eval_chars, chars_per_step = min(val_chars, MAX_EVAL_CHARS), batch_size * num_steps
    share = evaluation_share(eval_chars, eval_interval(eval_every, steps_per_epoch), chars_per_step)
    if share < EVAL_SHARE_NOTE:
        return None
    fix = interval_for_share(eval_chars, chars_per_step)
    how = (
        f"eval every {fix:,} makes it {EVAL_SHARE:.0%}"
        if fix <= steps_per_epoch
        else "a smaller val fraction makes it less"
    )
    return f"evaluating takes ≈{share:.0%} of the time: {how}"


def dropout_for(epochs: float, params_per_char: float = 0.0) -> float:
    """Dropout for the epochs the budget means, and at least HEAVY_DROPOUT for a model big enough
    to memorise its corpus in a few epochs (PARAMS_PER_CHAR_HEAVY)."""
    d = next(d for e, d in DROPOUT_BY_EPOCHS if epochs <= e)
    return max(d, HEAVY_DROPOUT) if params_per_char >= PARAMS_PER_CHAR_HEAVY else d


def feasible(vocab: int, train_chars: int, memory: int) -> list[Candidate]:
    """The candidates this corpus and this device allow, smallest first (never empty: the
    smallest always stays, the corpus checks refuse a text too small for anything)."""
    out: list[Candidate] = []
    for c in CANDIDATES:
        if c.params(vocab) > MAX_PARAMS_PER_CHAR * max(1, train_chars) and out:
            break
        if training_bytes(c.model_config(vocab), BATCH, BPTT) > MEMORY_SHARE * memory and out:
            break
        out.append(c)
    return out


def choose(
    budget_s: float,
    train_chars: int,
    vocab: int,
    speeds: Mapping[str, Speed],
    memory: int,
    precision: str = "auto",
    candidates: Sequence[Candidate] | None = None,
) -> Choice:
    """The largest candidate (of those with a speed in ``speeds``, among ``candidates`` or all the
    feasible ones) that trains at least CHARS_PER_PARAM characters per parameter in the budget;
    the smallest measured one when none does. Deterministic in its inputs; more budget never gives
    a smaller model (the characters grow with it)."""
    pool = [c for c in (candidates or feasible(vocab, train_chars, memory)) if c.name in speeds]
    if not pool:
        raise ConfigError("no candidate shape has a measured speed")
    best = pool[0]
    for c in pool:
        _, cps = speeds[c.name].pick(precision)
        if budget_s * cps * EFFICIENCY >= CHARS_PER_PARAM * c.params(vocab):
            best = c
    used, cps = speeds[best.name].pick(precision)
    epochs = budget_s * cps * EFFICIENCY / max(1, train_chars)
    dropout = dropout_for(epochs, best.params(vocab) / max(1, train_chars))
    return Choice(best, used, cps, budget_s, train_chars, dropout, dict(speeds))


def to_measure(budget_s: float, train_chars: int, vocab: int, memory: int, flops_per_s: float) -> list[Candidate]:
    """Which candidates to time: the choice an estimate of the speed (``flops_per_s`` over each
    candidate's FLOPs per character) makes, and its neighbours on either side."""
    pool = feasible(vocab, train_chars, memory)
    guess = {c.name: Speed(flops_per_s / flops_per_char(c.model_config(vocab)), None, "assumed") for c in pool}
    i = pool.index(choose(budget_s, train_chars, vocab, guess, memory, "fp32", pool).candidate)
    return pool[max(0, i - 1) : i + 2]


def next_to_measure(
    choice: Choice, speeds: Mapping[str, Speed], vocab: int, train_chars: int, memory: int
) -> Candidate | None:
    """After a choice from measured speeds: the next larger candidate, when the choice is the
    largest measured one (a larger one might pass too), else None."""
    pool = feasible(vocab, train_chars, memory)
    i = pool.index(choice.candidate)
    if i + 1 < len(pool) and pool[i + 1].name not in speeds:
        return pool[i + 1]
    return None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?)?\s*$", re.I)


def parse_duration(text: str) -> float:
    """Seconds in '90s', '30m', '2h', '1.5h' or a plain number of minutes."""
    m = _DURATION.match(text or "")
    if not m:
        raise ConfigError(f"a budget is a time such as 90s, 30m or 2h, not {text!r}")
    value, unit = float(m.group(1)), (m.group(2) or "m").lower()
    seconds = value * (1 if unit.startswith("s") else 3600 if unit.startswith("h") else 60)
    if not 1 <= seconds <= MAX_SECONDS:
        raise ConfigError(f"a budget must be between 1 second and a year, not {text!r}")
    return seconds
