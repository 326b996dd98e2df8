"""CharLM: Embedding -> nn.RNN | nn.GRU | nn.LSTM (batch_first) -> Linear to vocab logits."""

from __future__ import annotations

import torch
from torch import nn

from charlm_tui.core.config import ModelConfig, count_parameters, flops_per_char  # noqa: F401 (re-exported)
from charlm_tui.core.errors import ConfigError

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


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
