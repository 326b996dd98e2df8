"""Each recurrent cell's torch module and its one-character step, written once per cell for each
place that steps it: the CPU stepper (NumPy, in place), ONNX export (torch operations written out)
and the device stepper (torch's single-step kernel). ``core.cells`` has the torch-free half (the
gate count and the state's kind). Tests compare every step with the module's own forward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from charlm_tui.core.cells import CellShape, cell_shape, register_shape


def sigmoid_into(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """sigmoid(x) = (tanh(x/2) + 1) / 2 into ``out``: no overflow warnings for large |x|."""
    np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


@dataclass(frozen=True)
class CellSpec:
    shape: CellShape
    # (input_size, hidden_size, num_layers, batch_first=True) -> a module whose parameters are named
    # as torch's recurrent modules name them (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0)
    module: Callable[..., nn.Module]
    # torch's single-step kernel: (x, state, w_ih, w_hh, b_ih, b_hh) -> h, or (h, c)
    aten_step: Callable[..., Any]
    # the CPU stepper adds the hidden bias into the input side (not the GRU: its n gate needs b_hn alone)
    fold_biases: bool
    # in place, for one layer: g holds W_hh h (+ b_hh when not folded: b_hh is then given), gi holds
    # W_ih x + b_ih (+ b_hh when folded); h (and c) become the new state; s is scratch of g's shape
    numpy_step: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, Any, int], None]
    # torch operations, for export: (gi, gh, h, c or None) -> (h, c or None), gi and gh with their biases
    torch_step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Any], tuple[torch.Tensor, Any]]

    @property
    def name(self) -> str:
        return self.shape.name


# ---------------------------------------------------------------- LSTM: gates i, f, g, o
def _lstm_numpy(g, gi, h, c, s, _b_hh, H) -> None:
    g += gi
    sigmoid_into(g, s)
    gg = g[..., 2 * H : 3 * H]
    np.tanh(gg, out=gg)
    c *= s[..., H : 2 * H]
    c += s[..., :H] * gg
    np.tanh(c, out=h)
    h *= s[..., 3 * H :]


def _lstm_torch(gi, gh, h, c):
    ig, fg, gg, og = (gi + gh).chunk(4, dim=-1)
    c_new = torch.sigmoid(fg) * c + torch.sigmoid(ig) * torch.tanh(gg)
    return torch.sigmoid(og) * torch.tanh(c_new), c_new


# ---------------------------------------------------------------- GRU: gates r, z, n
def _gru_numpy(g, gi, h, _c, s, b_hh, H) -> None:
    # h' = (1 - z) n + z h = n + z (h - n)
    g += b_hh
    rz = sigmoid_into(gi[..., : 2 * H] + g[..., : 2 * H], s[..., : 2 * H])
    n = g[..., 2 * H :] * rz[..., :H]
    n += gi[..., 2 * H :]
    np.tanh(n, out=n)
    h -= n
    h *= rz[..., H:]
    h += n


def _gru_torch(gi, gh, h, _c):
    ir, iz, in_ = gi.chunk(3, dim=-1)
    hr, hz, hn = gh.chunk(3, dim=-1)
    r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
    n = torch.tanh(in_ + r * hn)
    return (1 - z) * n + z * h, None


# ---------------------------------------------------------------- Elman RNN, tanh
def _rnn_numpy(g, gi, h, _c, _s, _b_hh, _H) -> None:
    g += gi
    np.tanh(g, out=h)


def _rnn_torch(gi, gh, _h, _c):
    return torch.tanh(gi + gh), None


CELLS: dict[str, CellSpec] = {}


def register(spec: CellSpec) -> None:
    """Make a cell known to every part of the house (its torch-free shape too)."""
    register_shape(spec.shape)
    CELLS[spec.name] = spec


for _spec in (
    CellSpec(cell_shape("lstm"), nn.LSTM, torch.lstm_cell, True, _lstm_numpy, _lstm_torch),
    CellSpec(cell_shape("gru"), nn.GRU, torch.gru_cell, False, _gru_numpy, _gru_torch),
    CellSpec(cell_shape("rnn"), nn.RNN, torch.rnn_tanh_cell, True, _rnn_numpy, _rnn_torch),
):
    register(_spec)


def cell_spec(name: str) -> CellSpec:
    cell_shape(name)  # ConfigError for an unknown name
    return CELLS[name]
