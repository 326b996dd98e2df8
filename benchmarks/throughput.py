"""Training throughput: the project's Trainer, in fp32 and in the precision ``auto`` picks here,
against the tutorial's own loop (../shared/bench/seed_loop.py, run as a subprocess in this
invocation) with the same model and hyperparameters (LSTM 2x256, embedding 64, dropout 0.3,
batch 32, BPTT 35, Adam 2e-3, clip 1.0, state carried and detached), on python-docs. The runs are
alternated ROUNDS times (the order swapped every round); medians, their ratios and each run's
figure. Extra columns: the word_language_model-style loop this benchmark used to compare against
(dropout on the embeddings and outputs too, so slower than the tutorial's), the two LSTM layers'
forward+backward alone (the ceiling any trainer of this model meets here), and matmul FLOP/s in
fp32 and bf16. Printed with the CPU model, its bf16 flags, and the precision auto chose.

    python -m benchmarks.throughput [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from benchmarks.machine import machine_info
from charlm_tui.core.config import ModelConfig, TrainConfig, flops_per_char
from charlm_tui.core.data.catalog import resolve
from charlm_tui.core.model.charlm import CharLM
from charlm_tui.core.training import calibration
from charlm_tui.core.training.precision import Precision
from charlm_tui.core.training.trainer import Trainer

SEED_LOOP = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "seed_loop.py"

EMBED, HIDDEN, LAYERS, DROPOUT, BATCH, BPTT, LR, CLIP = 64, 256, 2, 0.3, 32, 35, 2e-3, 1.0


class TutorialModel(nn.Module):
    """As in pytorch/examples word_language_model: (T, B) layout, dropout on input and output."""

    def __init__(self, ntoken):
        super().__init__()
        self.drop = nn.Dropout(DROPOUT)
        self.encoder = nn.Embedding(ntoken, EMBED)
        self.rnn = nn.LSTM(EMBED, HIDDEN, LAYERS, dropout=DROPOUT)
        self.decoder = nn.Linear(HIDDEN, ntoken)

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(out)).view(-1, self.decoder.out_features), hidden

    def init_hidden(self, bsz):
        w = next(self.parameters())
        return (w.new_zeros(LAYERS, bsz, HIDDEN), w.new_zeros(LAYERS, bsz, HIDDEN))


def repackage_hidden(h):
    return h.detach() if isinstance(h, torch.Tensor) else tuple(repackage_hidden(v) for v in h)


def baseline_chars_per_s(ids: torch.Tensor, vocab: int, seconds: float) -> float:
    torch.manual_seed(0)
    data = ids.long()
    nb = data.size(0) // BATCH
    data = data[: nb * BATCH].view(BATCH, -1).t().contiguous()  # batchify: (L, B)
    model = TutorialModel(vocab)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    crit = nn.CrossEntropyLoss()
    model.train()
    hidden = model.init_hidden(BATCH)
    chars, t0, i = 0, time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        if i >= data.size(0) - 1:
            i, hidden = 0, model.init_hidden(BATCH)
        seq_len = min(BPTT, data.size(0) - 1 - i)
        x, y = data[i : i + seq_len], data[i + 1 : i + 1 + seq_len].reshape(-1)
        hidden = repackage_hidden(hidden)
        model.zero_grad()
        out, hidden = model(x, hidden)
        loss = crit(out, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        loss.item()
        chars += y.numel()
        i += seq_len
    return chars / (time.perf_counter() - t0)


def run_seed_loop(text_file: Path, seconds: float, *extra: str, seed_loop: Path = SEED_LOOP) -> dict:
    """The tutorial's loop on ``text_file`` for ``seconds``, as its own process on the same number of
    threads: the JSON line it prints."""
    argv = [sys.executable, str(seed_loop), "--corpus", str(text_file), "--seconds", str(seconds)]
    argv += ["--threads", str(torch.get_num_threads()), *extra]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def seed_loop_chars_per_s(corpus_file: Path, seconds: float, seed_loop: Path) -> float:
    """Its training speed with this benchmark's hyperparameters (no final evaluation)."""
    hp = ["--no-eval", "--batch", str(BATCH), "--steps", str(BPTT), "--lr", str(LR)]
    return float(run_seed_loop(corpus_file, seconds, *hp, seed_loop=seed_loop)["train_chars_per_s"])


def project_chars_per_s(ids: torch.Tensor, vocab: int, seconds: float, precision: Precision | None = None) -> float:
    torch.manual_seed(0)
    cfg = TrainConfig(
        batch_size=BATCH,
        num_steps=BPTT,
        lr=LR,
        clip=CLIP,
        eval_every=10**9,
        max_seconds=seconds,
        event_interval=0.25,
        device="cpu",
    )
    n_val = len(ids) // 10
    model = CharLM(vocab, EMBED, HIDDEN, LAYERS, DROPOUT, "lstm")
    tr = Trainer(model, ids[:-n_val], ids[-n_val:], cfg, "cpu", precision=precision)
    final = tr.run()
    return final.chars_per_s or 0.0


def lstm_kernels_chars_per_s(seconds: float) -> float:
    torch.manual_seed(0)
    layers = [nn.LSTM(EMBED, HIDDEN, 1, batch_first=True), nn.LSTM(HIDDEN, HIDDEN, 1, batch_first=True)]
    x = torch.randn(BATCH, BPTT, EMBED, requires_grad=True)
    grad_out = torch.randn(BATCH, BPTT, HIDDEN)
    chars, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        h = x
        for layer in layers:
            h, _ = layer(h)
        h.backward(grad_out)
        for layer in layers:
            layer.zero_grad(set_to_none=True)
        x.grad = None
        chars += BATCH * BPTT
    return chars / (time.perf_counter() - t0)


def matmul_flops(dtype: torch.dtype, n: int = 1024, reps: int = 30) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed-loop", type=Path, default=SEED_LOOP, help="the tutorial's loop (seed_loop.py)")
    args = ap.parse_args()
    if not args.seed_loop.is_file():
        sys.exit(f"the baseline {args.seed_loop} is missing: pass --seed-loop PATH")
    with tempfile.TemporaryDirectory() as d:
        corpus = resolve("python-docs", Path(d))
        ids, vocab = corpus.ids, corpus.vocab.size
        text_file = Path(d) / "python-docs.txt"
        text_file.write_text(corpus.vocab.decode(ids.tolist()), encoding="utf-8")
        mcfg = ModelConfig(vocab, "lstm", EMBED, HIDDEN, LAYERS, DROPOUT)
        auto = calibration.resolve("auto", mcfg, BATCH, BPTT, torch.device("cpu"), cache_dir=None)
        fp32 = Precision("fp32", "fp32")
        seed, wlm, p32, pauto, kern = [], [], [], [], []
        for r in range(args.rounds):  # the order turns each round: no loop always runs first
            runs = [
                lambda: seed.append(seed_loop_chars_per_s(text_file, args.seconds, args.seed_loop)),
                lambda: p32.append(project_chars_per_s(ids, vocab, args.seconds, fp32)),
                lambda: pauto.append(project_chars_per_s(ids, vocab, args.seconds, auto)),
                lambda: wlm.append(baseline_chars_per_s(ids, vocab, args.seconds)),
            ]
            for k in range(len(runs)):
                runs[(k + r) % len(runs)]()
            kern.append(lstm_kernels_chars_per_s(args.seconds / 2))
    mm32, mm16 = matmul_flops(torch.float32), matmul_flops(torch.bfloat16)
    fpc = flops_per_char(mcfg)
    b, p, a, w, k = (statistics.median(x) for x in (seed, p32, pauto, wlm, kern))
    print(
        json.dumps(
            {
                "benchmark": "throughput",
                **machine_info(),
                "precision_auto": auto.to_json(),
                "tutorial_loop_chars_per_s": round(b),
                "project_fp32_chars_per_s": round(p),
                "project_auto_chars_per_s": round(a),
                "ratio_fp32": round(p / b, 3),
                "ratio_auto": round(a / b, 3),
                "word_language_model_loop_chars_per_s": round(w),
                "lstm_kernels_fp32_chars_per_s": round(k),
                "matmul_fp32_gflops": round(mm32 / 1e9, 1),
                "matmul_bf16_gflops": round(mm16 / 1e9, 1),
                "project_fp32_mfu": round(p * fpc / mm32, 3),
                "seconds_each": args.seconds,
                "rounds": args.rounds,
                "tutorial_loop_each": [round(x) for x in seed],
                "project_fp32_each": [round(x) for x in p32],
                "project_auto_each": [round(x) for x in pauto],
                "word_language_model_loop_each": [round(x) for x in wlm],
            }
        )
    )


if __name__ == "__main__":
    main()
