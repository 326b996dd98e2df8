"""Fit to budget: measure the candidate shapes that matter on this machine (or read them from the
precision cache, where each measured shape also settles auto precision) and let
``core.sizing.choose`` pick.

Cold, it times the shape an estimate points at and its neighbours, alternated, a few steps each
in fp32 and bf16 (about 2-3 s on a 2-core CPU); if the largest of them still passes, the next one
up too. Warm, nothing is timed. ``CHARLM_TUI_SPEEDS=flops:N`` replaces the measurement by an
assumed N FLOP/s in fp32 (tests, CI, benchmarks that must not depend on the machine).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Mapping
from dataclasses import replace
from pathlib import Path

import torch

from charlm_tui.core import sizing
from charlm_tui.core.config import ASSUMED_FLOPS, ModelConfig, flops_per_char, memory_bytes
from charlm_tui.core.distributed import SINGLE, Dist
from charlm_tui.core.errors import ConfigError
from charlm_tui.core.sizing import BATCH, BPTT, MAX_EVAL_CHARS, Candidate, Choice, Speed
from charlm_tui.core.training import calibration
from charlm_tui.core.training.precision import Precision, bf16_dtype
from charlm_tui.core.training.speed import Measured, StepFn, measure_shapes

ENV = "CHARLM_TUI_SPEEDS"
MEASURE_BUDGET_S = 4.0  # the most one round of timing may take (cold cache)
MAX_EXTRA = 2  # candidates timed one by one after the first round, at most

Measure = Callable[[list[ModelConfig], tuple[str, ...]], dict[str, Measured]]


def device_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    return memory_bytes()


def assumed(env: str | None) -> float | None:
    """FLOP/s from CHARLM_TUI_SPEEDS=flops:N, None when unset; a bad value is refused."""
    if not env:
        return None
    kind, _, value = env.partition(":")
    try:
        flops = float(value)
    except ValueError:
        flops = -1.0
    if kind != "flops" or not flops > 0:
        raise ConfigError(f"${ENV} must look like flops:1.6e11, not {env!r}")
    return flops


def _precisions(setting: str) -> tuple[str, ...]:
    return {"fp32": ("fp32",), "bf16": ("bf16",)}.get(setting, ("fp32", "bf16"))


# a bf16/fp32 speed ratio this far from auto's bar (1.15x) on every shape timed so far settles which
# arithmetic larger shapes train in: they are timed in that one only (2 x 1024 in fp32 alone takes
# 0.7 s a step on the 2-core development CPU; its bf16/fp32 ratio there is 2.0-2.3 on every shape)
CLEAR_BF16, CLEAR_FP32 = 1.5, 0.9


def _clear_winner(speeds: Mapping[str, Speed]) -> str | None:
    ratios = [s.bf16 / s.fp32 for s in speeds.values() if s.fp32 and s.bf16]
    if ratios and min(ratios) >= CLEAR_BF16:
        return "bf16"
    if ratios and max(ratios) <= CLEAR_FP32:
        return "fp32"
    return None


def _timing(setting: str, speeds: Mapping[str, Speed]) -> tuple[str, ...]:
    """The precisions to time a new shape in: the one asked for, or under auto the clear winner
    so far, else both."""
    if setting != "auto":
        return _precisions(setting)
    winner = _clear_winner(speeds)
    return (winner,) if winner else ("fp32", "bf16")


def _measure(device: torch.device) -> Measure:
    def run(cfgs: list[ModelConfig], precisions: tuple[str, ...]) -> dict[str, Measured]:
        steps: dict[Hashable, StepFn] = {
            f"{c.num_layers}x{c.hidden_size}": calibration.training_step_fn(c, BATCH, BPTT, device) for c in cfgs
        }
        chars: Mapping[Hashable, int] = dict.fromkeys(steps, BATCH * BPTT)
        got = measure_shapes(steps, chars, precisions, budget_s=MEASURE_BUDGET_S)
        return {str(k): v for k, v in got.items()}

    return run


def fit_to_budget(
    budget_s: float,
    vocab: int,
    train_chars: int,
    precision: str = "auto",
    device: torch.device | str = "cpu",
    cache_dir: Path | None = None,
    measure: Measure | None = None,
    dist: Dist = SINGLE,
    val_chars: int = 0,
) -> Choice:
    """The choice for this budget and corpus on this device; measured speeds of new shapes go to
    the precision cache in ``cache_dir`` unless a measurement was spoiled by other work. The
    validation split's ``val_chars`` set how often the run can afford to evaluate."""
    return replace(
        _fit(budget_s, vocab, train_chars, precision, device, cache_dir, measure, dist),
        eval_chars=min(val_chars, MAX_EVAL_CHARS),
    )


def _fit(
    budget_s: float,
    vocab: int,
    train_chars: int,
    precision: str,
    device: torch.device | str,
    cache_dir: Path | None,
    measure: Measure | None,
    dist: Dist,
) -> Choice:
    device = torch.device(device)
    memory = device_memory(device)
    pool = sizing.feasible(vocab, train_chars, memory)
    flops = assumed(os.environ.get(ENV))
    if flops is not None:
        speeds = {c.name: Speed(flops / flops_per_char(c.model_config(vocab)), None, "assumed") for c in pool}
        return _agree(sizing.choose(budget_s, train_chars, vocab, _scaled(speeds, dist), memory, "fp32"), pool, dist)
    if precision == "auto" and os.environ.get(calibration.ENV) in ("fp32", "bf16"):
        precision = os.environ[calibration.ENV]  # auto pinned for this machine: time only that
    if precision == "bf16" or (precision == "auto" and device.type not in ("cpu", "cuda")):
        precision = "fp32" if device.type not in ("cpu", "cuda") else precision
    measure = measure or _measure(device)
    auto = precision == "auto"
    speeds = _cached(pool, vocab, device, cache_dir, precision)
    # estimate the rest from what is known (the fastest known shape's FLOP/s), else the assumption
    known = [(c, speeds[c.name].pick(precision)[1]) for c in pool if c.name in speeds]
    estimate = max((cps * flops_per_char(c.model_config(vocab)) for c, cps in known), default=ASSUMED_FLOPS)
    first = [c for c in sizing.to_measure(budget_s, train_chars, vocab, memory, estimate) if c.name not in speeds]
    if first and precision == "auto" and _clear_winner(speeds) is None:
        # which arithmetic wins is not clear yet: the smallest shape in both, first
        speeds.update(_timed(first[:1], vocab, device, cache_dir, ("fp32", "bf16"), measure))
        first = first[1:]
    if first:
        speeds.update(_timed(first, vocab, device, cache_dir, _timing(precision, speeds), measure, auto))
    choice = sizing.choose(budget_s, train_chars, vocab, _scaled(speeds, dist), memory, precision)
    for _ in range(MAX_EXTRA):  # the largest timed shape passed: a larger one may pass too
        nxt = sizing.next_to_measure(choice, speeds, vocab, train_chars, memory)
        if nxt is None:
            break
        speeds.update(_timed([nxt], vocab, device, cache_dir, _timing(precision, speeds), measure, auto))
        choice = sizing.choose(budget_s, train_chars, vocab, _scaled(speeds, dist), memory, precision)
    return _agree(choice, pool, dist)


def _scaled(speeds: dict[str, Speed], dist: Dist) -> dict[str, Speed]:
    """Under data parallelism every rank trains its own batch: the run's speed is world x a rank's."""
    if not dist.enabled:
        return speeds
    w = dist.world
    return {k: replace(v, fp32=v.fp32 and v.fp32 * w, bf16=v.bf16 and v.bf16 * w) for k, v in speeds.items()}


def _agree(choice: Choice, pool: list[Candidate], dist: Dist) -> Choice:
    """Ranks measure on their own; all train the smallest of their choices, with the largest dropout."""
    if not dist.enabled:
        return choice
    t = torch.tensor([-float(pool.index(choice.candidate)), choice.dropout], dtype=torch.float64)
    dist.all_reduce(t, "max")
    return replace(choice, candidate=pool[int(-t[0].item())], dropout=float(t[1].item()))


def _cached(
    pool: list[Candidate], vocab: int, device: torch.device, cache_dir: Path | None, precision: str
) -> dict[str, Speed]:
    if cache_dir is None:
        return {}
    entries = calibration.read_entries(cache_dir)
    out = {}
    for c in pool:
        hit = entries.get(calibration.cache_key(c.model_config(vocab), BATCH, BPTT, device))
        if not isinstance(hit, dict):
            continue
        f, b = _num(hit.get("fp32_chars_per_s")), _num(hit.get("bf16_chars_per_s"))
        if precision == "auto":
            # both, or the one auto timed alone because it clearly wins (not one forced by a setting)
            if not (f and b) and hit.get("auto_alone") not in (("fp32" if f else "bf16"),):
                continue
        elif (precision == "fp32" and not f) or (precision == "bf16" and not b):
            continue
        out[c.name] = Speed(f, b, "cached")
    return out


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else None


def _timed(
    cands: list[Candidate],
    vocab: int,
    device: torch.device,
    cache_dir: Path | None,
    precisions: tuple[str, ...],
    measure: Measure,
    auto: bool = False,
) -> dict[str, Speed]:
    got = measure([c.model_config(vocab) for c in cands], precisions)
    alone = precisions[0] if len(precisions) == 1 and auto else None
    out = {}
    for c in cands:
        m = got[c.name]
        out[c.name] = Speed(m.speeds.get("fp32"), m.speeds.get("bf16"), "spoiled" if m.spoiled else "measured")
        if cache_dir is not None and not m.spoiled:
            calibration.remember(cache_dir, c.model_config(vocab), BATCH, BPTT, device, m, alone)
    return out


def precision_of(choice: Choice, setting: str, device: torch.device) -> Precision | None:
    """The precision the chosen shape trains in, from its measurement (no second calibration);
    None when the speeds were assumed (the run resolves its precision as usual)."""
    speed = choice.speeds.get(choice.candidate.name)
    if speed is None or speed.source == "assumed" or setting != "auto":
        return None
    low, _ = bf16_dtype(device)
    used = low if choice.precision == "bf16" else "fp32"
    f, b = speed.fp32, speed.bf16
    source = speed.source if speed.source in ("cached", "spoiled") else "measured"
    return Precision("auto", used, f and round(f, 1), b and round(b, 1), source)
