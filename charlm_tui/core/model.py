"""CharLM: Embedding -> nn.RNN | nn.GRU | nn.LSTM (batch_first) -> Linear to vocab logits."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from charlm_tui.core.errors import ConfigError

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}

State = "torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None"


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    cell: str = "lstm"
    embed_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.2

    def validate(self) -> "ModelConfig":
        if self.cell not in CELLS:
            raise ConfigError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        for name in ("vocab_size", "embed_dim", "hidden_size", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name.replace('_', ' ')} must be at least 1, got {getattr(self, name)}")
        if self.vocab_size < 2:
            raise ConfigError("the vocabulary needs at least 2 entries")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        return self

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> "ModelConfig":
        known = {k: obj[k] for k in cls.__dataclass_fields__ if k in obj}
        return cls(**known).validate()


class CharLM(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden_size: int = 256, num_layers: int = 2,
                 dropout: float = 0.2, cell: str = "lstm"):
        super().__init__()
        self.config = ModelConfig(vocab_size, cell, embed_dim, hidden_size, num_layers, dropout).validate()
        self.cell, self.num_layers, self.hidden_size = cell, num_layers, hidden_size
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.drop = nn.Dropout(dropout)
        self.rnn = CELLS[cell](embed_dim, hidden_size, num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size, vocab_size)

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> "CharLM":
        return cls(cfg.vocab_size, cfg.embed_dim, cfg.hidden_size, cfg.num_layers, cfg.dropout, cfg.cell)

    def init_state(self, batch_size: int):
        """Zero state on the model's device and dtype: (h, c) for LSTM, h otherwise."""
        p = self.head.weight
        h = torch.zeros(self.num_layers, batch_size, self.hidden_size, device=p.device, dtype=p.dtype)
        return (h, h.clone()) if self.cell == "lstm" else h

    @staticmethod
    def detach_state(state):
        """Cut the graph at the batch boundary (truncated BPTT) while keeping the values."""
        if state is None:
            return None
        if isinstance(state, tuple):
            return tuple(s.detach() for s in state)
        return state.detach()

    def forward(self, x: torch.Tensor, state=None):
        """x: (B, T) ids -> logits (B, T, V), new state."""
        if state is None:
            state = self.init_state(x.shape[0])
        out, state = self.rnn(self.drop(self.embed(x)), state)
        return self.head(self.drop(out)), state

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def count_parameters(cfg: ModelConfig) -> int:
    """Parameter count without building the model (cheap enough for a live form)."""
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cfg.cell]
    n = cfg.vocab_size * cfg.embed_dim + cfg.hidden_size * cfg.vocab_size + cfg.vocab_size
    for layer in range(cfg.num_layers):
        inp = cfg.embed_dim if layer == 0 else cfg.hidden_size
        n += gates * cfg.hidden_size * (inp + cfg.hidden_size + 2)
    return n


def flops_per_char(cfg: ModelConfig) -> float:
    """Forward+backward FLOPs per trained character (3x the forward multiply-adds x 2)."""
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cfg.cell]
    macs = cfg.hidden_size * cfg.vocab_size
    for layer in range(cfg.num_layers):
        inp = cfg.embed_dim if layer == 0 else cfg.hidden_size
        macs += gates * cfg.hidden_size * (inp + cfg.hidden_size)
    return 6.0 * macs


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError("--device mps: Apple MPS is not available here; use --device cpu or auto")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    return torch.device(name)
