"""auto precision: time a few real training steps of the configured model at its batch shape in
fp32 and under bf16 autocast (at most ~2 s, warm-up included) and pick bf16 only when it is
clearly faster (``precision.BF16_MIN_SPEEDUP``). The result is cached per machine and model shape
in the data dir, so later runs start at once.

Machines differ: on one CPU bf16 matmuls run at 3-4x fp32 (AMX), on another they are slower than
fp32. Nothing here assumes either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from charlm_tui.core.atomic import write_json
from charlm_tui.core.bounded_read import read_text_bounded
from charlm_tui.core.config import ModelConfig
from charlm_tui.core.training.precision import Precision, autocast, bf16_dtype, check, decide
from charlm_tui.core.training.speed import Measured, StepFn, machine_load, measure_shapes
from charlm_tui.core.training.trainer import make_adam, token_loss

CALIBRATION_BUDGET_S = 2.0  # the most auto spends measuring (both ways, warm-up included)
CALIBRATION_ROUNDS = 3  # timed steps per precision, alternated, at most
CACHE_FILE = "precision-cache.json"
CACHE_VERSION = 1
ENV = "CHARLM_TUI_PRECISION"  # fp32 or bf16: what auto means on this machine, unmeasured (CI, benchmarks)
# a run that trained at this many times the speed its calibration measured for the precision it
# used: the calibration ran while other work loaded the machine (seen: bf16 0.86x fp32 measured
# beside a test suite, 1.8-2.1x idle), so its cached decision is forgotten and measured again
REVIEW_FACTOR = 1.5
REVIEW_MIN_STEPS = 50  # fewer steps than this say too little about the speed


def measure_checked(
    step: StepFn,
    chars_per_step: int,
    clock: Callable[[], float] = time.perf_counter,
    budget_s: float = CALIBRATION_BUDGET_S,
    rounds: int = CALIBRATION_ROUNDS,
    load: Callable[[], float] = machine_load,
) -> Measured:
    """fp32 and bf16 speeds of ``step``: one warm-up step each, then timed steps alternated
    (fp32, bf16, bf16, fp32, ...: neither always goes first) until ``rounds`` each or the budget is
    spent; the median of each counts, and a measurement other work disturbed says so
    (``speed.measure_shapes``)."""
    return measure_shapes({0: step}, {0: chars_per_step}, ("fp32", "bf16"), clock, rounds, budget_s, load)[0]


def measure(
    step: StepFn,
    chars_per_step: int,
    clock: Callable[[], float] = time.perf_counter,
    budget_s: float = CALIBRATION_BUDGET_S,
    rounds: int = CALIBRATION_ROUNDS,
    load: Callable[[], float] = machine_load,
) -> tuple[float, float]:
    """(fp32, bf16) characters per second of ``step`` (``measure_checked``)."""
    m = measure_checked(step, chars_per_step, clock, budget_s, rounds, load)
    return m.speeds["fp32"], m.speeds["bf16"]


def training_step_fn(model_cfg: ModelConfig, batch_size: int, num_steps: int, device: torch.device) -> StepFn:
    """A real training step of a fresh model of this shape on random ids: forward (under the
    precision's autocast), per-token loss, backward, clipping, Adam."""
    from charlm_tui.core.model.charlm import CharLM

    gen = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):  # the run's own RNG stream is not touched
        torch.manual_seed(0)
        model = CharLM.from_config(model_cfg).to(device).train()
    opt = make_adam(model.parameters(), 1e-3)
    x = torch.randint(0, model_cfg.vocab_size, (batch_size, num_steps + 1), generator=gen).to(device)
    _, low = bf16_dtype(device)
    low_name = "fp16" if low is torch.float16 else "bf16"

    def step(p: str) -> None:
        with torch.random.fork_rng(devices=[]), autocast(low_name if p == "bf16" else "fp32", device):
            logits, _ = model(x[:, :-1])
            loss = token_loss(logits, x[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        else:
            float(loss.detach())  # wait for the step to finish

    return step


def machine_key(device: torch.device) -> str:
    """This machine as far as speed goes: CPU model and flags (or the GPU), threads, torch."""
    cpu, flags = cpu_info()
    parts = [platform.machine(), cpu, " ".join(sorted(flags)), str(torch.get_num_threads()), torch.__version__]
    if device.type == "cuda":
        parts.append(torch.cuda.get_device_name(device))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def cpu_info() -> tuple[str, set[str]]:
    """The CPU's model name and flags (Linux /proc/cpuinfo; elsewhere what platform says)."""
    try:
        text = Path("/proc/cpuinfo").read_text("utf-8", "replace")
    except OSError:
        return platform.processor() or platform.machine(), set()
    model, flags = "", set[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model or platform.machine(), flags


def shape_key(model_cfg: ModelConfig, batch_size: int, num_steps: int, device: torch.device) -> str:
    m = model_cfg
    return (
        f"{device.type}:{m.cell}:{m.vocab_size}:{m.embed_dim}:{m.hidden_size}x{m.num_layers}:{batch_size}x{num_steps}"
    )


def cache_key(model_cfg: ModelConfig, batch_size: int, num_steps: int, device: torch.device) -> str:
    return f"{machine_key(device)}/{shape_key(model_cfg, batch_size, num_steps, device)}"


def _read_cache(path: Path) -> dict:
    """The cache, or {} when it is missing, damaged or from another version (then it is rebuilt)."""
    try:
        obj = json.loads(read_text_bounded(path, 4 << 20))
    except (OSError, ValueError):
        return {}
    if not isinstance(obj, dict) or obj.get("version") != CACHE_VERSION or not isinstance(obj.get("entries"), dict):
        return {}
    return obj


def resolve(
    setting: str,
    model_cfg: ModelConfig,
    batch_size: int,
    num_steps: int,
    device: torch.device,
    cache_dir: Path | None = None,
    measure_fn: Callable[[], Measured] | None = None,
) -> Precision:
    """The precision a run trains in. fp32 and bf16 are taken as asked; auto is measured (or read
    from the cache in ``cache_dir``). ``measure_fn`` replaces the measurement (tests)."""
    check(setting)
    low, _ = bf16_dtype(device)
    if setting == "fp32":
        return Precision("fp32", "fp32")
    if setting == "bf16":
        return Precision("bf16", low)
    pinned = os.environ.get(ENV)
    if pinned in ("fp32", "bf16"):
        return Precision("auto", low if pinned == "bf16" else "fp32", source=f"${ENV}")
    if device.type not in ("cpu", "cuda"):
        return Precision("auto", "fp32", source="measured")  # MPS and others: not measured, plain fp32
    path = cache_dir / CACHE_FILE if cache_dir is not None else None
    key = cache_key(model_cfg, batch_size, num_steps, device)
    cache = _read_cache(path) if path is not None else {}
    hit = cache.get("entries", {}).get(key)
    if isinstance(hit, dict):
        got = Precision.from_json({**hit, "setting": "auto", "source": "cached"})
        if got is not None and got.fp32_chars_per_s and got.bf16_chars_per_s:
            return got
    if measure_fn is None:
        step = training_step_fn(model_cfg, batch_size, num_steps, device)
        m = measure_checked(step, batch_size * num_steps)
    else:
        m = measure_fn()
    f, b = m.speeds["fp32"], m.speeds["bf16"]
    used = low if decide(f, b) == "bf16" else "fp32"
    got = Precision("auto", used, round(f, 1), round(b, 1), "spoiled" if m.spoiled else "measured")
    if cache_dir is not None and not m.spoiled:  # a disturbed measurement decides this run, never the next
        remember(cache_dir, model_cfg, batch_size, num_steps, device, m)
    return got


def read_entries(cache_dir: Path) -> dict:
    """The cache's entries (cache key -> record), {} when missing or damaged."""
    entries = _read_cache(cache_dir / CACHE_FILE).get("entries", {})
    return entries if isinstance(entries, dict) else {}


def remember(
    cache_dir: Path,
    model_cfg: ModelConfig,
    batch_size: int,
    num_steps: int,
    device: torch.device,
    m: Measured,
    auto_alone: str | None = None,
) -> None:
    """Keep a calm measurement of a shape (both precisions: it settles auto; one: it sizes a model,
    ``auto_alone`` saying when auto timed only that one because it clearly wins here)."""
    f, b = m.speeds.get("fp32"), m.speeds.get("bf16")
    entry: dict = {"fp32_chars_per_s": f and round(f, 1), "bf16_chars_per_s": b and round(b, 1)}
    if auto_alone:
        entry["auto_alone"] = auto_alone
    if f and b:
        low, _ = bf16_dtype(device)
        entry["used"] = low if decide(f, b) == "bf16" else "fp32"
    entries = dict(read_entries(cache_dir))
    entries[cache_key(model_cfg, batch_size, num_steps, device)] = entry
    _write_cache(cache_dir / CACHE_FILE, entries)


def _write_cache(path: Path, entries: dict) -> None:
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs the next run 2 s
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {"version": CACHE_VERSION, "entries": entries})


def review(cache_dir: Path, key: str, prec: Precision, steps: int, chars_per_s: float | None) -> bool:
    """After a run whose ``auto`` precision was measured or read from the cache: when it trained
    ``steps`` (at least REVIEW_MIN_STEPS) in ``prec.used`` at REVIEW_FACTOR x or more the speed its
    calibration recorded for that precision, the calibration was taken on a busy machine and its
    decision may be wrong: the cache entry ``key`` is removed, so the next run of this shape
    measures again. True when it was removed. A slower run than the record says nothing (the run
    may be the one sharing the machine) and changes nothing."""
    if prec.setting != "auto" or prec.source not in ("measured", "cached") or steps < REVIEW_MIN_STEPS:
        return False
    recorded = prec.fp32_chars_per_s if prec.used == "fp32" else prec.bf16_chars_per_s
    if not recorded or not chars_per_s or chars_per_s < REVIEW_FACTOR * recorded:
        return False
    path = cache_dir / CACHE_FILE
    entries = dict(_read_cache(path).get("entries", {}))
    if entries.pop(key, None) is None:
        return False
    _write_cache(path, entries)
    return True
