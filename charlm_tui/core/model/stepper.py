"""One character at a time, for generation: advance a trained ``CharLM`` by one token, at batch 1
(a stream) or at batch N (best-of-N and beam search: N continuations for the price of a few).

At batch 1 a step is a few matrix-vector products and a handful of pointwise operations on vectors
of a few hundred floats, so the cost is memory traffic and per-call overhead, not arithmetic. Two
backends, same maths as ``CharLM.forward`` in eval mode (tests compare them token by token):

- ``CpuStepper``: the weights are copied once, pre-transposed; layer 0's input projection is folded
  into a (V, G) table (a row lookup per step, biases included); the recurrent products of ALL layers
  are one ``torch.bmm`` (they depend only on the previous state), so MKL spreads them over the cores;
  the pointwise gate maths runs in NumPy on views of the same buffers (~1 us a call on a 1024-float
  vector against ~3-5 us for a torch call). Faster than the torch cell kernels on a CPU:
  benchmarks/generation.py (``cpu_stepper_vs_torch_cells``) measures by how much on the machine at hand.
- ``TorchStepper`` (CUDA, MPS): the single-step cell kernels (``torch.lstm_cell`` and friends) on
  the model's device.

Both: ``load(state)`` takes the model's state (``(h, c)`` of shape (num_layers, B, H) for an LSTM,
``h`` otherwise), ``step(token)`` returns float32 NumPy logits (V,) at batch 1 and ``step(tokens)``
(B,) logits (B, V) at batch B; ``reorder(rows)`` keeps the given rows of the state (beam search);
``state()`` gives the model state back. A stepper is a snapshot of the weights at the time it was
made.
"""

from __future__ import annotations

import numpy as np
import torch


def make_stepper(model, batch: int = 1):
    """The fastest stepper for where ``model`` lives."""
    if model.head.weight.device.type == "cpu":
        return CpuStepper(model, batch)
    return TorchStepper(model, batch)


class CpuStepper:
    def __init__(self, model, batch: int = 1):
        self.cell = model.cell
        self.spec = model.spec  # the cell's NumPy step (core.model.cells)
        self.lstm, fold = model.has_cell_state, model.spec.fold_biases
        L, H = self.num_layers, self.H = model.num_layers, model.hidden_size
        with torch.no_grad():

            def f32(t):  # a copy: training may go on updating the model's own tensors in place
                return t.detach().to("cpu", torch.float32, copy=True)

            layers = model.layers
            # biases: both fold into one, unless the cell needs the hidden one alone (the GRU's n gate)
            b_in = [f32(la.bias_ih_l0 + la.bias_hh_l0 if fold else la.bias_ih_l0) for la in layers]
            self.table = torch.addmm(b_in[0], f32(model.embed.weight), f32(layers[0].weight_ih_l0).t()).numpy()
            self.b_in = [b.numpy() for b in b_in]
            self.b_hh = [None if fold else f32(la.bias_hh_l0).numpy() for la in layers]
            self.w_hh = torch.stack([f32(la.weight_hh_l0).t() for la in layers]).contiguous()  # (L, H, G)
            self.w_ih = [None] + [f32(la.weight_ih_l0).t().contiguous() for la in layers[1:]]  # (H, G)
            self.head_w = f32(model.head.weight).t().contiguous()  # (H, V)
            self.head_b = f32(model.head.bias).numpy()
        G = self.w_hh.shape[2]
        self.batch = B = batch
        self.h_t = torch.zeros(L, B, H)  # the state, in place; h is a NumPy view of the same memory
        self.h = self.h_t.numpy()
        self.c = np.zeros((L, B, H), dtype=np.float32)
        self.gh_t = torch.empty(L, B, G)
        self.gh = self.gh_t.numpy()
        self.gi_t = torch.empty(B, G)  # a layer's input projection (layers above the first)
        self.gi = self.gi_t.numpy()
        self.logits_t = torch.empty(B, self.head_w.shape[1])
        self.scratch = np.empty((B, G), dtype=np.float32)
        if B == 1:  # batch 1 works on 1-D views: the stream's per-character cost stays as it was
            self.gi, self.scratch = self.gi[0], self.scratch[0]

    def load(self, state) -> None:
        """Start from a model state (h, c) or h of shape (num_layers, B, H)."""
        h = state[0] if self.lstm else state
        self.h[:] = h.detach().to("cpu", torch.float32).numpy()
        if self.lstm:
            self.c[:] = state[1].detach().to("cpu", torch.float32).numpy()

    def state(self):
        h = torch.from_numpy(self.h.copy())
        return (h, torch.from_numpy(self.c.copy())) if self.lstm else h

    def reorder(self, rows) -> None:
        """Row b of the state becomes a copy of row ``rows[b]`` (beam search keeps its best)."""
        rows = np.asarray(rows)
        self.h[:] = self.h[:, rows]
        self.c[:] = self.c[:, rows]

    @torch.inference_mode()
    def step(self, token) -> np.ndarray:
        """Feed ``token`` (batch 1) or tokens (B,); returns float32 logits (V,) or (B, V)."""
        H, s, one, step = self.H, self.scratch, self.batch == 1, self.spec.numpy_step
        if one and isinstance(token, np.ndarray):  # a batch of one, from a batched caller: (1, V)
            return self.step(int(token[0]))[None, :]
        torch.bmm(self.h_t, self.w_hh, out=self.gh_t)  # every layer's recurrent product at once
        for i in range(self.num_layers):
            if i == 0:
                gi = self.table[token]  # batch 1: a view, never written to; batch B: a copy
            else:
                torch.mm(self.h_t[i - 1], self.w_ih[i], out=self.gi_t)  # the new output of the layer below
                gi = self.gi
                gi += self.b_in[i]
            g, h, c = (self.gh[i, 0], self.h[i, 0], self.c[i, 0]) if one else (self.gh[i], self.h[i], self.c[i])
            step(g, gi, h, c, s, self.b_hh[i], H)
        torch.mm(self.h_t[-1], self.head_w, out=self.logits_t)
        return (self.logits_t.numpy()[0] if one else self.logits_t.numpy()) + self.head_b


class TorchStepper:
    """The single-step cell kernels on the model's own device: one ATen call per layer."""

    def __init__(self, model, batch: int = 1):
        self.model = model
        self.batch = batch
        self.lstm = model.has_cell_state
        self.fn = model.spec.aten_step
        self.weights = [(la.weight_ih_l0, la.weight_hh_l0, la.bias_ih_l0, la.bias_hh_l0) for la in model.layers]
        self.layers: list = []

    def load(self, state) -> None:
        n = len(self.weights)
        self.layers = [(state[0][i], state[1][i]) for i in range(n)] if self.lstm else [state[i] for i in range(n)]

    def state(self):
        if self.lstm:
            return torch.stack([h for h, _ in self.layers]), torch.stack([c for _, c in self.layers])
        return torch.stack(self.layers)

    def reorder(self, rows) -> None:
        idx = torch.as_tensor(np.asarray(rows), device=self.model.head.weight.device)
        if self.lstm:
            self.layers = [(h.index_select(0, idx), c.index_select(0, idx)) for h, c in self.layers]
        else:
            self.layers = [h.index_select(0, idx) for h in self.layers]

    @torch.inference_mode()
    def step(self, token) -> np.ndarray:
        m = self.model
        if self.batch == 1 and isinstance(token, np.ndarray):
            return self.step(int(token[0]))[None, :]
        if self.batch == 1:
            x = m.embed.weight[int(token) : int(token) + 1]
        else:
            x = m.embed.weight[torch.as_tensor(np.asarray(token), device=m.embed.weight.device)]
        for i, w in enumerate(self.weights):
            s = self.fn(x, self.layers[i], *w)
            self.layers[i] = s
            x = s[0] if self.lstm else s
        out = torch.addmm(m.head.bias, x, m.head.weight.t()).float().cpu().numpy()
        return out[0] if self.batch == 1 else out
