"""CharLM: Embedding -> nn.RNN | nn.GRU | nn.LSTM (batch_first) -> Linear to vocab logits."""

from __future__ import annotations

import torch
from torch import nn

from charlm_tui.core.config import ModelConfig, count_parameters, flops_per_char  # noqa: F401 (re-exported)
from charlm_tui.core.errors import ConfigError
from charlm_tui.core.model.cells import cell_spec


class LockedDropout(nn.Module):
    """Dropout with one mask per sequence, shared by every time step (variational dropout, as in
    AWD-LSTM). It regularises recurrent nets at least as well as a fresh mask per step and draws
    T times fewer random numbers, which on a CPU is a sixth of a training step."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, H)
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(keep).div_(keep)
        return x * mask


class CharLM(nn.Module):
    """Embedding -> a stack of single-layer recurrent layers (batch_first) -> Linear.

    The stack is kept as separate layers so that the dropout between them can be locked dropout;
    the state has the usual (num_layers, B, H) shape, (h, c) for an LSTM."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 64,
        hidden_size: int = 256,
        num_layers: int = 2,
        dropout: float = 0.2,
        cell: str = "lstm",
        weight_drop: float = 0.0,
    ):
        super().__init__()
        self.config = ModelConfig(vocab_size, cell, embed_dim, hidden_size, num_layers, dropout, weight_drop).validate()
        self.weight_drop = weight_drop
        self.cell, self.num_layers, self.hidden_size = cell, num_layers, hidden_size
        self.spec = cell_spec(cell)
        self.has_cell_state = self.spec.shape.cell_state  # the state is (h, c), not h
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.drop = LockedDropout(dropout)
        self.layers = nn.ModuleList(
            self.spec.module(embed_dim if i == 0 else hidden_size, hidden_size, 1, batch_first=True)
            for i in range(num_layers)
        )
        self.head = nn.Linear(hidden_size, vocab_size)

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> CharLM:
        return cls(
            cfg.vocab_size, cfg.embed_dim, cfg.hidden_size, cfg.num_layers, cfg.dropout, cfg.cell, cfg.weight_drop
        )

    def init_state(self, batch_size: int):
        """Zero state on the model's device and dtype: (h, c) for a cell with a cell state (LSTM), h otherwise."""
        p = self.head.weight
        h = torch.zeros(self.num_layers, batch_size, self.hidden_size, device=p.device, dtype=p.dtype)
        return (h, h.clone()) if self.has_cell_state else h

    @staticmethod
    def map_state(state, fn):
        """``fn`` applied to each tensor of a state: h, or (h, c) for an LSTM; None stays None."""
        if state is None:
            return None
        if isinstance(state, tuple):
            return tuple(fn(s) for s in state)
        return fn(state)

    @staticmethod
    def detach_state(state):
        """Cut the graph at the batch boundary (truncated BPTT) while keeping the values."""
        return CharLM.map_state(state, torch.Tensor.detach)

    def forward(self, x: torch.Tensor, state=None):
        """x: (B, T) ids -> logits (B, T, V), new state."""
        h, new_state = self.features(x, state)
        return self.head(h), new_state

    def features(self, x: torch.Tensor, state=None):
        """x: (B, T) ids -> the last layer's outputs (B, T, H) (after dropout), new state."""
        if state is None:
            state = self.init_state(x.shape[0])
        lstm = self.has_cell_state
        h = self.drop(self.embed(x))
        hs, cs = [], []
        for i, layer in enumerate(self.layers):
            s = (state[0][i : i + 1], state[1][i : i + 1]) if lstm else state[i : i + 1]
            h, s = self._run_layer(layer, h, s)
            if lstm:
                hs.append(s[0])
                cs.append(s[1])
            else:
                hs.append(s)
            h = self.drop(h)  # between layers, and before the output layer
        new_state = (torch.cat(hs), torch.cat(cs)) if lstm else torch.cat(hs)
        return h, new_state

    def _run_layer(self, layer: nn.Module, h: torch.Tensor, s):
        """One recurrent layer; in training with weight drop, its hidden-to-hidden weights through a
        fresh DropConnect mask for this step (AWD-LSTM's weight drop: the recurrent connections,
        which locked dropout leaves alone, are the ones a small corpus lets a model memorise with).
        The masked weights go in as the layer's parameters, so the fused kernel still runs."""
        p = self.weight_drop
        if not self.training or p == 0.0:
            return layer(h, s)
        from torch.func import functional_call

        params: dict[str, torch.Tensor] = dict(layer.named_parameters())
        w = params["weight_hh_l0"]
        params["weight_hh_l0"] = w * torch.empty_like(w).bernoulli_(1.0 - p).div_(1.0 - p)
        return functional_call(layer, params, (h, s))

    def stepper(self, batch: int = 1):
        """One character at a time, for generation (see ``charlm_tui.core.model.stepper``)."""
        from charlm_tui.core.model.stepper import make_stepper

        return make_stepper(self, batch)

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
