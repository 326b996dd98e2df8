"""Timing training steps on a machine that other work may be using at the same moment.

A precision calibration taken while a test suite loaded this 2-core CPU once cached "bf16 0.02x
fp32 (1.0k vs 44.7k chars/s)" and so fp32 for that shape. So: every shape and precision is timed
in turns (the shapes in a rotating order, the precisions alternated), each speed is the median of
its rounds, a measurement whose rounds disagree wildly is taken again, and one that still
disagrees, or whose bf16/fp32 ratio no machine shows, is marked spoiled: it may inform the
decision of the moment, never a cache.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

StepFn = Callable[[str], None]  # runs one training step in the given precision ("fp32" | "bf16")

ROUNDS = 3  # timed steps per shape and precision, at most
MIN_ROUNDS = 2  # a spread needs two
WILD_SPREAD = 2.0  # the slowest round this many times the fastest: other work got in the way
PLAUSIBLE_RATIO = 8.0  # bf16 this many times faster or slower than fp32: seen only on a loaded machine
# other work keeps this share of the CPUs running (runnable tasks besides this process's, sampled
# before timing): speeds that are calm but slow, all of them, and so not for a cache
BUSY_LOAD = 0.5
LOAD_SAMPLES = 5


def machine_load(samples: int = LOAD_SAMPLES, gap_s: float = 0.01) -> float:
    """Runnable tasks other than this one, per CPU: the median of a few samples of the running
    count in /proc/loadavg (instantaneous: the 1-minute average would count this process's own
    timing a minute later). 0 where the platform does not say."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    counts = []
    for i in range(samples):
        try:
            with open("/proc/loadavg", encoding="ascii") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        counts.append(max(0, running - 1))  # less this thread, which is reading
        if i + 1 < samples:
            time.sleep(gap_s)
    return statistics.median(counts) / max(1, cpus)


@dataclass(frozen=True)
class Measured:
    """One shape's speeds, characters per second by precision (the median of its rounds)."""

    speeds: dict[str, float]
    spread: float  # the worst slowest/fastest ratio of its rounds
    spoiled: bool

    def ratio(self) -> float | None:
        f, b = self.speeds.get("fp32"), self.speeds.get("bf16")
        return b / f if f and b else None


def _time_rounds(
    steps: Mapping[Hashable, StepFn],
    precisions: Sequence[str],
    clock: Callable[[], float],
    rounds: int,
    budget_s: float,
) -> dict[Hashable, dict[str, list[float]]]:
    start = clock()
    keys = list(steps)
    for k in keys:  # warm-up: first-call allocation and kernel selection
        for p in precisions:
            steps[k](p)
    times: dict[Hashable, dict[str, list[float]]] = {k: {p: [] for p in precisions} for k in keys}
    if clock() - start > budget_s:  # the warm-ups alone took the budget: one round, and no spread to read
        rounds = 1
    for r in range(rounds):
        r0 = clock()
        order = keys[r % len(keys) :] + keys[: r % len(keys)]
        for k in order:
            for p in precisions if r % 2 == 0 else list(reversed(precisions)):
                t0 = clock()
                steps[k](p)
                times[k][p].append(clock() - t0)
        spent = clock() - start
        if r + 1 >= MIN_ROUNDS and spent + (clock() - r0) > budget_s:  # another round would end past the budget
            break
    return times


def _summarise(times: dict[str, list[float]], chars_per_step: int) -> Measured:
    speeds, spread = {}, 1.0
    for p, ts in times.items():
        ts = [max(t, 1e-12) for t in ts]
        speeds[p] = chars_per_step / statistics.median(ts)
        spread = max(spread, max(ts) / min(ts))
    m = Measured(speeds, spread, spread >= WILD_SPREAD)
    ratio = m.ratio()
    if ratio is not None and not (1 / PLAUSIBLE_RATIO <= ratio <= PLAUSIBLE_RATIO):
        m = Measured(speeds, spread, True)
    return m


def measure_shapes(
    steps: Mapping[Hashable, StepFn],
    chars_per_step: Mapping[Hashable, int],
    precisions: Sequence[str] = ("fp32", "bf16"),
    clock: Callable[[], float] = time.perf_counter,
    rounds: int = ROUNDS,
    budget_s: float = 4.0,
    load: Callable[[], float] = machine_load,
) -> dict[Hashable, Measured]:
    """Each shape's speed in each precision. The shapes whose rounds disagree (or whose ratio is
    implausible) are timed once more, alone; still so, they come back ``spoiled``, as all do when
    other work kept the machine busy (``load``: other runnable tasks per CPU, before timing)."""
    busy = load() >= BUSY_LOAD
    start = clock()
    times = _time_rounds(steps, precisions, clock, rounds, budget_s)
    out = {k: _summarise(times[k], chars_per_step[k]) for k in steps}
    one_round = any(len(ts) < MIN_ROUNDS for t in times.values() for ts in t.values())
    again = [k for k, m in out.items() if m.spoiled]
    if again and clock() - start < budget_s:  # time left for a second take
        redo = _time_rounds({k: steps[k] for k in again}, precisions, clock, rounds, budget_s / 2)
        for k in again:
            out[k] = _summarise(redo[k], chars_per_step[k])
    if busy or one_round:
        out = {k: Measured(m.speeds, m.spread, True) for k, m in out.items()}
    return out
