"""Generation at batch 1: time to the first generated character after a 1,000-character prompt,
and steady chars/s over 2,000 characters, for the project's sampler vs the tutorial's loop (the
prompt fed one character at a time, then one step per character, oneDNN left on). Same untrained
LSTM 2x256 (speed does not depend on the weights), medians of REPS runs. Also the step loop alone
(stepper + draw, no prompt) with the CPU stepper vs the torch single-step cell kernels, and the
floor under the first character: the bare oneDNN forward pass over the prompt (``warmup_pass_ms``).

Then what the sampling controls cost a stream when they are on (each alone, against the neutral
stream in the same process), best-of-8 (one stepper at batch 8) against eight streams one after
the other, and beam search of width 8 against the greedy stream, all over the same prompt; and the
bare batch-1 step of the engine's CPU stepper against the ONNX export run by onnxruntime (when the
export extra is installed).

    python -m benchmarks.generation
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np
import torch

from benchmarks.machine import machine_info
from charlm_tui.core.config import SamplingControl
from charlm_tui.core.data.vocab import Vocab
from charlm_tui.core.model.charlm import CharLM
from charlm_tui.core.model.sampling import beam_search, best_of, generate, pick
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


def stream_rate(model: CharLM, vocab: Vocab, prompt: str, n: int, control: SamplingControl) -> float:
    """chars/s of a whole stream (warm-up included), ``n`` characters."""
    t0 = time.perf_counter()
    got = sum(1 for _ in generate(model, vocab, prompt, n, control, seed=0))
    assert got == n, (got, n)
    return n / (time.perf_counter() - t0)


def batched(model: CharLM, vocab: Vocab, prompt: str, n: int) -> dict:
    """Best-of-8 vs eight streams, beam-8 vs greedy: chars/s over all the characters produced."""
    control = SamplingControl(temperature=0.8)
    t0 = time.perf_counter()
    found = best_of(model, vocab, prompt, 8, n, control, seed=0)
    best8 = 8 * n / (time.perf_counter() - t0)
    assert sum(c.chars for c in found) == 8 * n
    t0 = time.perf_counter()
    for k in range(8):
        assert sum(1 for _ in generate(model, vocab, prompt, n, control, seed=k)) == n
    seq8 = 8 * n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    beam_search(model, vocab, prompt, 8, n)
    beam8 = n / (time.perf_counter() - t0)
    greedy = stream_rate(model, vocab, prompt, n, SamplingControl(temperature=0.0))
    return {"best_of_8": best8, "eight_streams": seq8, "beam_8": beam8, "greedy": greedy}


CONTROLS = {
    "top_p_0.9": {"top_p": 0.9},
    "min_p_0.05": {"min_p": 0.05},
    "repetition_penalty_1.3": {"repetition_penalty": 1.3},
    "stop_string": {"stop": ("\x00\x01",)},  # never drawn (not in the vocabulary): the hold-back check alone
    "all_four": {"top_p": 0.9, "min_p": 0.05, "repetition_penalty": 1.3, "stop": ("\x00\x01",)},
}


def onnxruntime_steps(model: CharLM, vocab: Vocab, n: int) -> float | None:
    """chars/s of the exported step (charlm-tui export) run by onnxruntime at batch 1, state fed
    back each step, no draw: the bare step, as ``step_loop`` times the engine's. None without the
    export extra."""
    import tempfile
    from pathlib import Path

    try:
        import onnxruntime as ort

        from charlm_tui.core.model.export import export_model
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as d:
        path, _ = export_model(model, vocab.chars, Path(d) / "m.onnx", {})
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        shape = (model.num_layers, 1, model.hidden_size)
        state = {k: np.zeros(shape, np.float32) for k in ("h", "c")}
        tok = np.array([1], np.int64)
        for _ in range(20):
            _, *new = sess.run(None, {"token": tok, **state})
        t0 = time.perf_counter()
        for _ in range(n):
            _, *new = sess.run(None, {"token": tok, **state})
            state = dict(zip(state, new))
        return n / (time.perf_counter() - t0)


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
    # each control alone against the neutral stream, alternated so drift hits both alike
    rates: dict[str, list[float]] = {"neutral": [], **{k: [] for k in CONTROLS}}
    for _ in range(REPS):
        rates["neutral"].append(stream_rate(model, vocab, prompt, GEN_CHARS, SamplingControl(temperature=0.8)))
        for name, kw in CONTROLS.items():
            rates[name].append(stream_rate(model, vocab, prompt, GEN_CHARS, SamplingControl(temperature=0.8, **kw)))
    neutral = statistics.median(rates["neutral"])
    control_cost = {
        name: round(1 - statistics.median(rates[name]) / neutral, 3) for name in CONTROLS
    }  # the share of a neutral stream's speed each one costs
    runs = [batched(model, vocab, prompt, 500) for _ in range(3)]
    bare: dict[str, list[float]] = {"cpu": [], "ort": []}
    for _ in range(REPS):  # the bare step, no draw: the engine's stepper against onnxruntime
        st = CpuStepper(model)
        st.load(model.init_state(1))
        t0 = time.perf_counter()
        for _ in range(GEN_CHARS):
            st.step(1)
        bare["cpu"].append(GEN_CHARS / (time.perf_counter() - t0))
        ort_rate = onnxruntime_steps(model, vocab, GEN_CHARS)
        if ort_rate is not None:
            bare["ort"].append(ort_rate)
    cpu_step = statistics.median(bare["cpu"])
    ort_step = statistics.median(bare["ort"]) if bare["ort"] else None
    bat = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(
        json.dumps(
            {
                "benchmark": "generation",
                "machine": machine_info(),
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
                "neutral_stream_chars_per_s": round(neutral),
                "control_cost_fraction": control_cost,
                "best_of_8_chars_per_s": round(bat["best_of_8"]),
                "eight_streams_chars_per_s": round(bat["eight_streams"]),
                "best_of_8_vs_eight_streams": round(bat["best_of_8"] / bat["eight_streams"], 2),
                "beam_8_chars_per_s": round(bat["beam_8"]),
                "greedy_chars_per_s": round(bat["greedy"]),
                "beam_8_vs_greedy": round(bat["beam_8"] / bat["greedy"], 2),
                "bare_step_cpu_stepper_per_s": round(cpu_step),
                "bare_step_onnxruntime_per_s": round(ort_step) if ort_step else None,
                "cpu_stepper_vs_onnxruntime": round(cpu_step / ort_step, 2) if ort_step else None,
                "reps": REPS,
            }
        )
    )


if __name__ == "__main__":
    main()
