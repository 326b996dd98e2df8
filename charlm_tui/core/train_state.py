"""A trainer's resumable state: its progress, optimizer moments, hidden state and RNG as tensors plus
JSON metadata for a checkpoint, and how they are put back (a resumed run continues exactly)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch


@dataclass
class Progress:
    """Everything needed to continue a run exactly where it stopped (JSON-able)."""
    step: int = 0
    epoch: int = 0
    batch_index: int = 0
    best_nll: float = math.inf
    best_step: int = 0
    bad_evals: int = 0
    last_eval_step: int = 0
    train_seconds: float = 0.0
    elapsed: float = 0.0
    loss_sum: float = 0.0   # train NLL summed over tokens since the last evaluation
    loss_tokens: int = 0
    lr_scale: float = 1.0   # product of the plateau cuts (the cosine schedule multiplies it)
    history: list = field(default_factory=list)  # [(step, val_nll)] for charts after resume


def checkpoint_state(tr) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors (weights, optimizer moments, hidden state, RNG) and JSON metadata."""
    tensors = {f"model.{k}": v.detach() for k, v in tr.model.state_dict().items()}
    opt = tr.optimizer.state_dict()
    opt_meta: dict = {"param_groups": opt["param_groups"], "state": {}}
    for pid, st in opt["state"].items():
        opt_meta["state"][str(pid)] = {}
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"optim.{pid}.{key}"] = val
            else:
                opt_meta["state"][str(pid)][key] = val
    if tr.state is not None:
        parts = tr.state if isinstance(tr.state, tuple) else (tr.state,)
        for i, s in enumerate(parts):
            tensors[f"hidden.{i}"] = s
    tensors["rng.cpu"] = torch.get_rng_state()
    if tr.device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(tr.device)
    meta = {"progress": asdict(tr.p), "optimizer": opt_meta,
            "scheduler": tr.scheduler.state_dict(), "train_config": tr.cfg.to_json()}
    return tensors, meta


def load_checkpoint_state(tr, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Put a trainer back exactly where ``checkpoint_state`` found it."""
    model_sd = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    tr.model.load_state_dict(model_sd)
    opt_meta = meta["optimizer"]
    state = {}
    for pid, st in opt_meta["state"].items():
        st = dict(st)
        for k, v in tensors.items():
            if k.startswith(f"optim.{pid}."):
                st[k.split(".", 2)[2]] = v.to(tr.device) if v.dim() else v
        state[int(pid)] = st
    tr.optimizer.load_state_dict({"state": state, "param_groups": opt_meta["param_groups"]})
    tr.scheduler.load_state_dict(meta["scheduler"])
    p = dict(meta["progress"])
    p["history"] = [tuple(h) for h in p.get("history", [])]
    tr.p = Progress(**p)
    hidden = [tensors[f"hidden.{i}"].to(tr.device) for i in range(2) if f"hidden.{i}" in tensors]
    if tr.dist.enabled or (hidden and hidden[0].shape[1] != tr.batches.x.shape[0] if hasattr(tr.batches, "x")
                           else False):
        hidden = []  # saved by rank 0 for its own streams: other ranks/world sizes restart them at zero
    tr.state = None if not hidden else (tuple(hidden) if tr.model.cell == "lstm" else hidden[0])
    torch.set_rng_state(tensors["rng.cpu"].cpu())
    if "rng.cuda" in tensors and tr.device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"].cpu(), tr.device)
    tr.best_state = None
