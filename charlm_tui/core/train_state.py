"""A trainer's resumable state: its progress, optimizer moments, hidden state and RNG as tensors plus
JSON metadata for a checkpoint, and how they are put back (a resumed run continues exactly)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

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
    loss_sum: float = 0.0  # train NLL summed over tokens since the last evaluation
    loss_tokens: int = 0
    lr_scale: float = 1.0  # product of the plateau cuts (the cosine schedule multiplies it)
    history: list = field(default_factory=list)  # [(step, val_nll)] for charts after resume

    @classmethod
    def from_json(cls, obj) -> Progress:
        """A checked Progress from checkpoint metadata; ValueError says what is wrong."""
        if not isinstance(obj, dict):
            raise ValueError("progress is not an object")
        out: dict = {}
        for f in fields(cls):
            if f.name not in obj:
                continue
            v = obj[f.name]
            if f.name == "history":
                if not isinstance(v, list) or not all(
                    isinstance(h, (list, tuple)) and len(h) == 2 and all(_is_num(x) for x in h) for h in v
                ):
                    raise ValueError("progress history is not a list of (step, nll) pairs")
                out[f.name] = [tuple(h) for h in v]
            elif not _is_num(v) or (f.type == "int" and (not isinstance(v, int) or v < 0)):
                raise ValueError(f"progress {f.name!r} has a bad value {v!r}"[:120])
            else:
                out[f.name] = v
        return cls(**out)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_MISSING = object()


def _same_kind(value, default) -> bool:
    """Whether an optimizer setting read from a file can stand where ``default`` stands."""
    if default is None or isinstance(default, bool):
        return value is None or isinstance(value, bool)
    if _is_num(default):
        return _is_num(value)
    if isinstance(default, (tuple, list)):
        return isinstance(value, (tuple, list)) and len(value) == len(default) and all(map(_is_num, value))
    return value is not _MISSING


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
    meta = {
        "progress": asdict(tr.p),
        "optimizer": opt_meta,
        "scheduler": tr.scheduler.state_dict(),
        "train_config": tr.cfg.to_json(),
    }
    return tensors, meta


def load_checkpoint_state(tr, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Put a trainer back exactly where ``checkpoint_state`` found it. A checkpoint that does not fit
    (damaged, hand-edited, another model's) raises CheckpointError and leaves nothing half-loaded
    that matters: the caller discards the trainer."""
    from charlm_tui.core.errors import CheckpointError

    try:
        _load(tr, tensors, meta)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as e:
        what = f"missing {e}" if isinstance(e, KeyError) else str(e).splitlines()[0][:200]
        raise CheckpointError(
            f"the saved training state does not fit this run ({what}); resume is not possible, "
            "but its weights may still sample"
        ) from None


def _load(tr, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    if not isinstance(meta, dict) or not isinstance(meta.get("optimizer"), dict):
        raise ValueError("no optimizer state in the checkpoint")
    progress = Progress.from_json(meta.get("progress"))
    model_sd = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    tr.model.load_state_dict(model_sd)
    opt_meta = meta["optimizer"]
    groups = opt_meta["param_groups"]
    if not isinstance(groups, list) or not all(isinstance(g, dict) and _is_num(g.get("lr")) for g in groups):
        raise ValueError("bad optimizer parameter groups")
    state = {}
    for pid, st in opt_meta["state"].items():
        st = dict(st)
        for k, v in tensors.items():
            if k.startswith(f"optim.{pid}."):
                st[k.split(".", 2)[2]] = v.to(tr.device) if v.dim() else v
        for need in ("step", "exp_avg", "exp_avg_sq"):
            if need not in st:
                raise KeyError(f"optimizer {need}")
        state[int(pid)] = st
    tr.optimizer.load_state_dict({"state": state, "param_groups": groups})
    for group in tr.optimizer.param_groups:  # torch fills in settings newer than the file; the rest must be sound
        for key, default in tr.optimizer.defaults.items():
            if not _same_kind(group.get(key, _MISSING), default):
                raise ValueError(f"optimizer setting {key!r} is missing or of another kind")
    for group in tr.optimizer.param_groups:
        for p_ in group["params"]:
            s_ = tr.optimizer.state.get(p_)
            if s_ is not None and (s_["exp_avg"].shape != p_.shape or s_["exp_avg_sq"].shape != p_.shape):
                raise ValueError("optimizer moments of another shape")
            if s_ is not None and torch.is_tensor(s_["step"]) and s_["step"].numel() != 1:
                raise ValueError("optimizer step count of another shape")
    if not isinstance(meta.get("scheduler"), dict):
        raise ValueError("no scheduler state")
    tr.scheduler.load_state_dict(meta["scheduler"])
    tr.p = progress
    hidden = [tensors[f"hidden.{i}"].to(tr.device) for i in range(2) if f"hidden.{i}" in tensors]
    if hidden and hidden[0].dim() != 3:
        hidden = []
    if tr.dist.enabled or (
        hidden and hidden[0].shape[1] != tr.batches.x.shape[0] if hasattr(tr.batches, "x") else False
    ):
        hidden = []  # saved by rank 0 for its own streams: other ranks/world sizes restart them at zero
    tr.state = None if not hidden else (tuple(hidden) if tr.model.cell == "lstm" else hidden[0])
    torch.set_rng_state(tensors["rng.cpu"].cpu())
    if "rng.cuda" in tensors and tr.device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"].cpu(), tr.device)
    tr.best_state = None
