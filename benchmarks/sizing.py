"""The sizing sweep: what model is best for a time budget on a corpus on this machine.

One run per (shape, regularisation, corpus) at a constant LR after a warmup (a
warmup-stable-decay schedule); at each budget's step count a short decay branch forks from the
stable run (its last ``--decay`` share, LR down linearly to 2% of the peak) and is evaluated on the
whole validation split (at most 1M chars, as the trainer does). One stable run answers every
budget, at both precisions: a budget is turned into steps with this machine's measured training
speed of the shape (``--speeds``, measured before the sweep on an idle machine with the app's
thread count, as ``charlm-tui`` measures it), so the run itself may go on one thread, beside
other work, and its numbers do not change: they depend on steps, not on seconds.

    python -m benchmarks.sizing --corpus PATH --layers 2 --hidden 512 --dropout 0.25 \
        --speeds bf16=18700,fp32=9600 --budgets 5,15,30 [--fp32-budgets 5] [--threads 1] \
        --out benchmarks/results/sizing.jsonl

Each branch appends one JSON line to --out (with the CPU model and flags, the speeds used and
the steps, characters and epochs the budget meant); the rule in core/training/sizing.py is
derived from these lines.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import torch

from benchmarks.machine import machine_info
from charlm_tui.core.config import COSINE_FLOOR, ModelConfig
from charlm_tui.core.data.batching import SequentialBatches, split_train_val
from charlm_tui.core.model.charlm import CharLM
from charlm_tui.core.sizing import EFFICIENCY, MAX_EVAL_CHARS
from charlm_tui.core.training.precision import autocast
from charlm_tui.core.training.trainer import evaluate, make_adam, token_loss


def load_ids(path: Path) -> tuple[torch.Tensor, int]:
    text = path.read_text("utf-8")
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    return torch.tensor([index[c] for c in text], dtype=torch.int32), len(chars)


def parse_speeds(raw: str) -> dict[str, float]:
    out = {}
    for part in raw.split(","):
        k, _, v = part.partition("=")
        out[k.strip()] = float(v)
    return out


def branch_points(args, speeds: dict[str, float], chars_per_step: int) -> list[tuple[str, float, int]]:
    """(precision, minutes, steps) of every budget asked for, in step order."""
    pts = []
    for prec, budgets in (("bf16", args.budgets), ("fp32", args.fp32_budgets)):
        if prec not in speeds:
            continue
        for m in budgets:
            steps = int(m * 60 * speeds[prec] * EFFICIENCY / chars_per_step)
            pts.append((prec, m, max(steps, 10)))
    return sorted(pts, key=lambda p: p[2])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--bptt", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--decay", type=float, default=0.15, help="the share of a budget's steps that decays the LR")
    ap.add_argument("--speeds", required=True, help="measured training chars/s of this shape: bf16=N,fp32=N")
    ap.add_argument("--budgets", type=lambda s: [float(x) for x in s.split(",")], default=[5.0, 15.0, 30.0])
    ap.add_argument("--fp32-budgets", type=lambda s: [float(x) for x in s.split(",") if x], default=[5.0])
    ap.add_argument("--precision", default="bf16", help="what the sweep's own steps run in")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/sizing.jsonl"))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    ids, vocab = load_ids(args.corpus)
    train_ids, val_ids = split_train_val(ids, 0.1)
    val_ids = val_ids[:MAX_EVAL_CHARS]
    mcfg = ModelConfig(
        vocab_size=vocab,
        cell=args.cell,
        embed_dim=args.embed,
        hidden_size=args.hidden,
        num_layers=args.layers,
        dropout=args.dropout,
    ).validate()
    model = CharLM.from_config(mcfg).train()
    opt = make_adam(model.parameters(), args.lr, args.weight_decay)
    batches = SequentialBatches(train_ids, args.batch, args.bptt, seed=args.seed)
    chars_per_step = args.batch * args.bptt
    speeds = parse_speeds(args.speeds)
    points = branch_points(args, speeds, chars_per_step)
    device = torch.device("cpu")
    base = {
        "corpus": args.corpus.name,
        "train_chars": len(train_ids),
        "vocab": vocab,
        "cell": args.cell,
        "layers": args.layers,
        "hidden": args.hidden,
        "embed": args.embed,
        "dropout": args.dropout,
        "weight_decay": args.weight_decay,
        "lr": args.lr,
        "batch": args.batch,
        "bptt": args.bptt,
        "params": model.num_parameters(),
        "speeds": speeds,
        "efficiency": EFFICIENCY,
        "decay": args.decay,
        "sweep_precision": args.precision,
        "tag": args.tag,
        "machine": machine_info(),
    }

    state = {"step": 0, "epoch": 0, "index": 0, "hidden": None}

    def step(m: CharLM, o: torch.optim.Optimizer, st: dict, lr: float) -> float:
        for g in o.param_groups:
            g["lr"] = lr
        b = batches.batch(st["epoch"], st["index"])
        h = None if st["index"] == 0 else CharLM.detach_state(st["hidden"])
        with autocast(args.precision, device):
            logits, h = m(b.x, h)
            loss = token_loss(logits, b.y)
        o.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0, foreach=True)
        o.step()
        st["hidden"] = CharLM.map_state(h, lambda s: s.detach().float())
        st["step"] += 1
        st["index"] += 1
        if st["index"] >= len(batches):
            st["epoch"], st["index"], st["hidden"] = st["epoch"] + 1, 0, None
        return float(loss.detach())

    def stable_lr(s: int) -> float:
        return args.lr * min(1.0, (s + 1) / args.warmup) if args.warmup else args.lr

    def val(m: CharLM) -> float:
        return evaluate(m, val_ids, args.batch, args.bptt).nll

    t0 = time.monotonic()
    for prec, minutes, total in points:
        fork_at = max(0, int(total * (1.0 - args.decay)))
        while state["step"] < fork_at:
            step(model, opt, state, stable_lr(state["step"]))
        stable_nll = val(model)
        bm = copy.deepcopy(model)
        bo = make_adam(bm.parameters(), args.lr, args.weight_decay)
        bo.load_state_dict(opt.state_dict())
        bs = {
            **state,
            "hidden": CharLM.map_state(state["hidden"], lambda s: s.clone()) if state["hidden"] is not None else None,
        }
        n = total - fork_at
        losses = []
        for k in range(n):
            frac = (k + 1) / max(1, n)
            lr = stable_lr(bs["step"]) * (1.0 - (1.0 - COSINE_FLOOR) * frac)
            losses.append(step(bm, bo, bs, lr))
        nll = val(bm)
        rec = {
            **base,
            "budget_precision": prec,
            "budget_min": minutes,
            "steps": total,
            "chars": total * chars_per_step,
            "epochs": round(total * chars_per_step / len(train_ids), 3),
            "val_nll": round(nll, 5),
            "val_bpc": round(nll / math.log(2), 5),
            "stable_val_nll": round(stable_nll, 5),
            "train_loss_last": round(sum(losses[-100:]) / max(1, len(losses[-100:])), 5) if losses else None,
            "wall_s": round(time.monotonic() - t0, 1),
        }
        print(json.dumps(rec), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as f:
            f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
