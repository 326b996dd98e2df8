"""Training throughput: the project's Trainer vs the classic PyTorch word_language_model loop.

Same model and hyperparameters (LSTM 2x256, embedding 64, dropout 0.3, batch 32, BPTT 35, Adam,
clip 1.0, state carried and detached), on python-docs, alternated ROUNDS times in this process
(each run in the main thread, the order swapped every round); medians, their ratio, each run's
figure, and the model FLOP utilisation against a fp32 and a bf16 matmul measured here. Also, each
round, the two LSTM layers' forward+backward ALONE (same shapes, no embedding, head, loss or
optimizer): the ceiling any trainer of this model meets here, as a ratio to the baseline.

    python benchmarks/throughput.py [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from charlm_tui.core.config import ModelConfig, TrainConfig, flops_per_char
from charlm_tui.core.data.catalog import resolve
from charlm_tui.core.model.charlm import CharLM
from charlm_tui.core.training.trainer import Trainer

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


def project_chars_per_s(ids: torch.Tensor, vocab: int, seconds: float) -> float:
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
    tr = Trainer(model, ids[:-n_val], ids[-n_val:], cfg, "cpu")
    tr.run()
    return tr._tokens_session / tr._train_seconds_session


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
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        corpus = resolve("python-docs", Path(d))
    ids, vocab = corpus.ids, corpus.vocab.size
    base, proj, kern = [], [], []
    for r in range(args.rounds):  # ABBA order: neither loop always runs first
        if r % 2 == 0:
            base.append(baseline_chars_per_s(ids, vocab, args.seconds))
            proj.append(project_chars_per_s(ids, vocab, args.seconds))
        else:
            proj.append(project_chars_per_s(ids, vocab, args.seconds))
            base.append(baseline_chars_per_s(ids, vocab, args.seconds))
        kern.append(lstm_kernels_chars_per_s(args.seconds))
    fp32, bf16 = matmul_flops(torch.float32), matmul_flops(torch.bfloat16)
    fpc = flops_per_char(ModelConfig(vocab, "lstm", EMBED, HIDDEN, LAYERS, DROPOUT))
    b, p, k = statistics.median(base), statistics.median(proj), statistics.median(kern)
    print(
        json.dumps(
            {
                "benchmark": "throughput",
                "baseline_chars_per_s": round(b),
                "project_chars_per_s": round(p),
                "ratio": round(p / b, 3),
                "lstm_kernels_chars_per_s": round(k),
                "lstm_kernels_vs_baseline": round(k / b, 3),
                "project_vs_lstm_kernels": round(p / k, 3),
                "flops_per_char": round(fpc),
                "matmul_fp32_gflops": round(fp32 / 1e9, 1),
                "matmul_bf16_gflops": round(bf16 / 1e9, 1),
                "project_mfu_fp32": round(p * fpc / fp32, 3),
                "project_mfu_bf16": round(p * fpc / bf16, 3),
                "baseline_mfu_fp32": round(b * fpc / fp32, 3),
                "seconds_each": args.seconds,
                "rounds": args.rounds,
                "threads": torch.get_num_threads(),
                "baseline_each": [round(x) for x in base],
                "project_each": [round(x) for x in proj],
                "lstm_kernels_each": [round(x) for x in kern],
            }
        )
    )


if __name__ == "__main__":
    main()
