"""Generation at batch 1: time to the first generated character after a 1,000-character prompt,
and steady chars/s over 2,000 characters, for the project's sampler vs the tutorial's loop (the
prompt fed one character at a time, then one step per character, oneDNN left on). Same untrained
LSTM 2x256 (speed does not depend on the weights), medians of REPS runs. Also the step loop alone
(stepper + draw, no prompt) with the CPU stepper vs the torch single-step cell kernels, and the
floor under the first character: the bare oneDNN forward pass over the prompt (``warmup_pass_ms``).

    python benchmarks/generation.py
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np
import torch

from charlm_tui.core.config import SamplingControl
from charlm_tui.core.data.vocab import Vocab
from charlm_tui.core.model.charlm import CharLM
from charlm_tui.core.model.sampling import generate, pick
from charlm_tui.core.model.stepper import CpuStepper, TorchStepper

PROMPT_CHARS, GEN_CHARS, REPS = 1000, 2000, 5


def tutorial(model: CharLM, ids: list[int], n: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    with torch.no_grad():
        state = None
        for i in ids:  # warm-up one character at a time
            logits, state = model(torch.tensor([[i]]), state)
        first = None
        nxt = ids[-1]
        for k in range(n):
            probs = torch.softmax(logits[0, -1] / 0.8, -1)
            nxt = int(torch.multinomial(probs, 1))
            if k == 0:
                first = time.perf_counter() - t0
                t1 = time.perf_counter()
            logits, state = model(torch.tensor([[nxt]]), state)
    return first, (n - 1) / (time.perf_counter() - t1)


def project(model: CharLM, vocab: Vocab, prompt: str, n: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    first, t1 = None, None
    for k, _ in enumerate(generate(model, vocab, prompt, n, SamplingControl(temperature=0.8), seed=0)):
        if k == 0:
            first = time.perf_counter() - t0
            t1 = time.perf_counter()
    return first, (n - 1) / (time.perf_counter() - t1)


def step_loop(stepper, model: CharLM, n: int) -> float:
    """chars/s of the bare loop: step, then draw the next id."""
    rng = np.random.default_rng(0)
    control = SamplingControl(temperature=0.8)
    stepper.load(model.init_state(1))
    nxt = 1
    t0 = time.perf_counter()
    for _ in range(n):
        nxt, _ = pick(stepper.step(nxt), control, rng)
    return n / (time.perf_counter() - t0)


def warmup_pass(model: CharLM, ids: list[int]) -> float:
    """Seconds for the recurrent layers alone over the prompt: what the first character cannot beat."""
    x = torch.tensor([ids])
    with torch.inference_mode():
        t0 = time.perf_counter()
        model.features(x)
        return time.perf_counter() - t0


def main() -> None:
    torch.manual_seed(0)
    text = "".join(chr(32 + (i * 7919) % 90) for i in range(5000))
    vocab = Vocab(text)
    model = CharLM(vocab.size, 64, 256, 2, 0.0, "lstm").eval()
    prompt = text[:PROMPT_CHARS]
    ids = vocab.encode(prompt)
    project(model, vocab, prompt, 10)
    tutorial(model, ids[:10], 10)
    t = [tutorial(model, ids, GEN_CHARS) for _ in range(REPS)]
    p = [project(model, vocab, prompt, GEN_CHARS) for _ in range(REPS)]
    warm = statistics.median(warmup_pass(model, ids) for _ in range(REPS))
    cells = {"cpu": [], "torch": []}
    for _ in range(REPS):
        cells["cpu"].append(step_loop(CpuStepper(model), model, GEN_CHARS))
        cells["torch"].append(step_loop(TorchStepper(model), model, GEN_CHARS))
    cpu_cells, torch_cells = statistics.median(cells["cpu"]), statistics.median(cells["torch"])
    tf, ts = statistics.median(x[0] for x in t), statistics.median(x[1] for x in t)
    pf, ps = statistics.median(x[0] for x in p), statistics.median(x[1] for x in p)
    print(
        json.dumps(
            {
                "benchmark": "generation",
                "prompt_chars": PROMPT_CHARS,
                "generated_chars": GEN_CHARS,
                "project_first_char_ms": round(1000 * pf, 2),
                "tutorial_first_char_ms": round(1000 * tf, 2),
                "first_char_speedup": round(tf / pf, 1),
                "warmup_pass_ms": round(1000 * warm, 2),
                "project_chars_per_s": round(ps),
                "tutorial_chars_per_s": round(ts),
                "steady_speedup": round(ps / ts, 2),
                "step_loop_cpu_stepper_chars_per_s": round(cpu_cells),
                "step_loop_torch_cells_chars_per_s": round(torch_cells),
                "cpu_stepper_vs_torch_cells": round(cpu_cells / torch_cells, 2),
                "reps": REPS,
            }
        )
    )


if __name__ == "__main__":
    main()
