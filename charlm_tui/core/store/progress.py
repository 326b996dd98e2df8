"""Where a run is (step, epoch, data position, best so far, early-stopping counters): the progress a
checkpoint records, read back with every field checked (a file may be damaged or hand-edited)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields


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
                    isinstance(h, (list, tuple)) and len(h) == 2 and all(is_num(x) for x in h) for h in v
                ):
                    raise ValueError("progress history is not a list of (step, nll) pairs")
                out[f.name] = [tuple(h) for h in v]
            elif not is_num(v) or (f.type == "int" and (not isinstance(v, int) or v < 0)):
                raise ValueError(f"progress {f.name!r} has a bad value {v!r}"[:120])
            else:
                out[f.name] = v
        return cls(**out)


def is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
