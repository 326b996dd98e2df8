"""A trainer's snapshot: its progress, optimizer moments, hidden state and RNG as tensors plus JSON
metadata for a checkpoint, and how they are put back (a resumed run continues exactly)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import torch

from charlm_tui.core.errors import CheckpointError
from charlm_tui.core.store.progress import Progress, is_num

if TYPE_CHECKING:
    from charlm_tui.core.training.trainer import Trainer


_MISSING = object()


def _same_kind(value, default) -> bool:
    """Whether an optimizer setting read from a file can stand where ``default`` stands."""
    if default is None or isinstance(default, bool):
        return value is None or isinstance(value, bool)
    if is_num(default):
        return is_num(value)
    if isinstance(default, (tuple, list)):
        return isinstance(value, (tuple, list)) and len(value) == len(default) and all(map(is_num, value))
    return value is not _MISSING


def capture(tr: Trainer) -> tuple[dict[str, torch.Tensor], dict]:
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
    if tr.hidden is not None:
        parts = tr.hidden if isinstance(tr.hidden, tuple) else (tr.hidden,)
        for i, s in enumerate(parts):
            tensors[f"hidden.{i}"] = s
    if tr.ema is not None:
        for i, t in enumerate(tr.ema):
            tensors[f"ema.{i}"] = t.detach()
    tensors["rng.cpu"] = torch.get_rng_state()
    if tr.device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(tr.device)
    meta = {
        "progress": asdict(tr.progress),
        "optimizer": opt_meta,
        "scheduler": tr.scheduler.state_dict(),
        "train_config": tr.cfg.to_json(),
    }
    return tensors, meta


Hidden = torch.Tensor | tuple[torch.Tensor, ...] | None


def restore(tr: Trainer, tensors: dict[str, torch.Tensor], meta: dict) -> tuple[Progress, Hidden]:
    """Load the weights, optimizer and scheduler that ``capture`` saved into ``tr`` and the RNG into
    torch; return the progress and hidden state to continue from. A checkpoint that does not fit
    (damaged, hand-edited, another model's) raises CheckpointError and leaves nothing half-loaded
    that matters: the caller discards the trainer."""
    try:
        return _load(tr, tensors, meta)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as e:
        what = f"missing {e}" if isinstance(e, KeyError) else str(e).splitlines()[0][:200]
        raise CheckpointError(
            f"the saved training state does not fit this run ({what}); resume is not possible, "
            "but its weights may still sample"
        ) from None


def _load(tr: Trainer, tensors: dict[str, torch.Tensor], meta: dict) -> tuple[Progress, Hidden]:
    if not isinstance(meta, dict) or not isinstance(meta.get("optimizer"), dict):
        raise ValueError("no optimizer state in the checkpoint")
    progress = Progress.from_json(meta.get("progress"))
    model_sd = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    tr.model.load_state_dict(model_sd)
    opt_meta = meta["optimizer"]
    groups = opt_meta["param_groups"]
    if not isinstance(groups, list) or not all(isinstance(g, dict) and is_num(g.get("lr")) for g in groups):
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
        # the weight decay is the run's setting now, not the file's
        group["weight_decay"], group["decoupled_weight_decay"] = tr.cfg.weight_decay, True
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
    hidden = [tensors[f"hidden.{i}"].to(tr.device) for i in range(2) if f"hidden.{i}" in tensors]
    if hidden and hidden[0].dim() != 3:
        hidden = []
    if tr.dist.enabled or (hidden and hidden[0].shape[1] != tr.carried_rows):
        hidden = []  # saved by rank 0 for its own streams: other ranks/world sizes restart them at zero
    torch.set_rng_state(tensors["rng.cpu"].cpu())
    if "rng.cuda" in tensors and tr.device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"].cpu(), tr.device)
    return progress, None if not hidden else (tuple(hidden) if tr.model.has_cell_state else hidden[0])
