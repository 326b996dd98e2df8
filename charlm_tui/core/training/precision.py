"""The arithmetic the training step runs in.

``fp32`` is plain float32. ``bf16`` runs the training forward and backward under
``torch.autocast`` in bfloat16 (on a CUDA GPU without bf16: float16 with a gradient scaler); the
master weights, the optimizer state, evaluation, the reported losses, checkpoints and generation
stay float32. ``auto`` is decided by measuring this machine (``calibration``).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import torch

from charlm_tui.core.config import BF16_MIN_SPEEDUP, PRECISIONS, decide  # noqa: F401 (re-exported)
from charlm_tui.core.errors import ConfigError


@dataclass(frozen=True)
class Precision:
    """What a run trains in: ``setting`` as asked (auto, fp32, bf16), ``used`` as run (fp32, bf16,
    or fp16 on a GPU without bf16), and, when measured, both speeds in characters per second."""

    setting: str
    used: str
    fp32_chars_per_s: float | None = None
    bf16_chars_per_s: float | None = None
    source: str = "asked"  # asked | measured | cached | resumed | spoiled (measured on a busy machine)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj) -> Precision | None:
        """A recorded precision (config.json), or None if the record is missing or unusable."""
        if not isinstance(obj, dict) or obj.get("used") not in ("fp32", "bf16", "fp16"):
            return None
        if obj.get("setting") not in PRECISIONS:
            return None
        speeds = [obj.get(k) for k in ("fp32_chars_per_s", "bf16_chars_per_s")]
        if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0) for v in speeds):
            return None
        return cls(obj["setting"], obj["used"], speeds[0], speeds[1], str(obj.get("source", "asked"))[:20])

    def describe(self) -> str:
        """One line for the event log and the CLI: 'precision bf16 (auto: 2.1x fp32, 84.2k vs 40.1k chars/s)'."""
        out = f"precision {self.used}"
        f, b = self.fp32_chars_per_s, self.bf16_chars_per_s
        how = "measured on a busy machine" if self.source == "spoiled" else self.source
        if self.setting == "auto" and f and b:
            out += f" (auto, {how}: bf16 {b / f:.2f}x fp32, {b / 1000:.1f}k vs {f / 1000:.1f}k chars/s)"
        elif self.setting != self.used or self.source in ("resumed", "spoiled"):
            out += f" ({self.setting}, {how})"
        return out


def check(setting: str) -> str:
    if setting not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {setting!r}")
    return setting


def bf16_dtype(device: torch.device) -> tuple[str, torch.dtype]:
    """What 'bf16' runs as on ``device``: bfloat16, or float16 on a CUDA GPU without bfloat16."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "fp16", torch.float16
    return "bf16", torch.bfloat16


def autocast(used: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context the training forward runs in for the precision ``used``."""
    if used == "fp32":
        return contextlib.nullcontext()
    dtype = torch.float16 if used == "fp16" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)
