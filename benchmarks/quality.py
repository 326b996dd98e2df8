"""Quality at a time budget: validation NLL, bits/char and perplexity after --seconds of training,
for the straightforward tutorial loop (benchmarks/throughput.py's baseline, evaluated once at the
end) and for the project's preset (Trainer with evaluation, LR plateau cuts and early stopping
inside the budget). Same corpus, same split (last 10% validation), same metric code.

    python -m benchmarks.quality [--seconds 300] [--corpus PATH|NAME] [--preset default] [--skip-baseline]
                                 [--set KEY=VALUE ...]   (override a preset value, e.g. --set lr=5e-3)

The corpus defaults to ../shared/corpora/tinyshakespeare.txt when present, else python-docs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from charlm_tui.core.config import PRESETS, ModelConfig, TrainConfig
from charlm_tui.core.data.batching import split_train_val
from charlm_tui.core.training.jobs import new_job
from charlm_tui.core.training.trainer import evaluate

REPO = Path(__file__).resolve().parents[1]
SHAKESPEARE = REPO.parent / "shared" / "corpora" / "tinyshakespeare.txt"


def baseline(corpus, seconds: float) -> dict:
    from benchmarks.throughput import BATCH, BPTT, CLIP, LR, TutorialModel, repackage_hidden

    torch.manual_seed(0)
    train, val = split_train_val(corpus.ids, 0.1)
    data = train.long()
    data = data[: data.size(0) // BATCH * BATCH].view(BATCH, -1).t().contiguous()
    model = TutorialModel(corpus.vocab.size)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    crit = torch.nn.CrossEntropyLoss()
    hidden, i, t0 = model.init_hidden(BATCH), 0, time.perf_counter()
    model.train()
    while time.perf_counter() - t0 < seconds:
        if i >= data.size(0) - 1:
            i, hidden = 0, model.init_hidden(BATCH)
        n = min(BPTT, data.size(0) - 1 - i)
        hidden = repackage_hidden(hidden)
        model.zero_grad()
        out, hidden = model(data[i : i + n], hidden)
        loss = crit(out, data[i + 1 : i + 1 + n].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        loss.item()
        i += n
    model.eval()

    class AsBatchFirst(torch.nn.Module):  # evaluate with the project's code: (B, T) in, (B, T, V) out
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x, state=None):
            if state is None:
                state = self.m.init_hidden(x.shape[0])
            out, state = self.m(x.t(), state)
            return out.view(x.shape[1], x.shape[0], -1).transpose(0, 1), state

    res = evaluate(AsBatchFirst(model), val, 32, 64)
    return {"val_nll": res.nll, "val_bpc": res.bpc, "val_ppl": res.ppl}


def _value(raw: str):
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return None if raw == "none" else raw


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--corpus", default=str(SHAKESPEARE) if SHAKESPEARE.exists() else "python-docs")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a model or training value of the preset (repeatable)",
    )
    args = ap.parse_args()
    mk, tk = (dict(d) for d in PRESETS[args.preset])
    for item in args.set:
        key, _, raw = item.partition("=")
        target = mk if key in ModelConfig.__dataclass_fields__ else tk
        target[key] = _value(raw)
    with tempfile.TemporaryDirectory() as home:
        job = new_job(Path(home), args.corpus, mk, replace(TrainConfig(**tk), max_seconds=args.seconds))
        final = job.start()
        corpus = job.corpus
    out = {
        "benchmark": "quality",
        "corpus": corpus.name,
        "seconds": args.seconds,
        "preset": args.preset,
        "overrides": args.set,
        "preset_val_nll": final.best_val_nll,
        "preset_val_bpc": final.best_val_bpc,
        "preset_val_ppl": final.best_val_ppl,
        "preset_steps": final.step,
        "preset_chars_per_s": final.chars_per_s,
    }
    if not args.skip_baseline:
        b = baseline(corpus, args.seconds)
        out.update({f"baseline_{k}": v for k, v in b.items()})
        out["nll_gain_nats"] = b["val_nll"] - final.best_val_nll
    print(json.dumps(out))


if __name__ == "__main__":
    main()
