"""Look inside, timed: scoring the python-docs validation split (surprisal, top-5 predictions and
every unit's activation) and discovery over every unit and feature, with a 2 x 256 LSTM (the shape
fit to budget picks for python-docs in five minutes here), against the naive way, one character at
a time through the model, in the same process. Printed with the CPU model and flags.

    python -m benchmarks.inspect [--threads 2] [--rounds 3] [--baseline-chars 5000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from benchmarks.machine import machine_info
from charlm_tui.core.analysis.discovery import discover
from charlm_tui.core.analysis.scoring import score
from charlm_tui.core.data.catalog import pydoc_topics_text
from charlm_tui.core.data.corpus import val_split_size
from charlm_tui.core.data.vocab import Vocab
from charlm_tui.core.model.charlm import CharLM


@torch.inference_mode()
def per_character(model: CharLM, vocab: Vocab, text: str) -> float:
    """The naive scorer: one forward call per character, state carried (bits per char)."""
    ids = vocab.encode(text)
    state, total = None, 0.0
    for i in range(len(ids) - 1):
        logits, state = model(torch.tensor([[ids[i]]]), state)
        total -= float(torch.log_softmax(logits[0, 0], -1)[ids[i + 1]])
    return total / (len(ids) - 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline-chars", type=int, default=5000)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    text = pydoc_topics_text()
    vocab = Vocab(sorted(set(text)))
    val = text[len(text) - val_split_size(len(text), 0.1) :]
    torch.manual_seed(0)
    model = CharLM(vocab.size, 64, 256, 2, 0.1, "lstm").eval()
    score(model, vocab, val[:5000], 32, 64)  # warm-up
    t_score, t_bits, t_disc = [], [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        s = score(model, vocab, val, 32, 64, activations=True)
        t1 = time.perf_counter()
        d = discover(s)
        t2 = time.perf_counter()
        score(model, vocab, val, 32, 64, activations=False)
        t3 = time.perf_counter()
        t_score.append(t1 - t0)
        t_disc.append(t2 - t1)
        t_bits.append(t3 - t2)
    n = args.baseline_chars
    t0 = time.perf_counter()
    per_character(model, vocab, val[:n])
    naive = (time.perf_counter() - t0) / n * len(val)
    out = {
        "chars": len(val),
        "units": model.num_layers * model.hidden_size,
        "score_s": round(statistics.median(t_score), 3),
        "score_without_activations_s": round(statistics.median(t_bits), 3),
        "discover_s": round(statistics.median(t_disc), 3),
        "features": len(d.top) + len(d.absent),
        "per_character_s_extrapolated": round(naive, 2),
        "speedup_vs_per_character": round(naive / statistics.median(t_score), 1),
        "rounds": {"score": [round(x, 3) for x in t_score], "discover": [round(x, 3) for x in t_disc]},
        "machine": machine_info(),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
