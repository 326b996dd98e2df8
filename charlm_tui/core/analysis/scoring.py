"""Score a text with a model: the bits it paid for each character, its top predictions there, and
every hidden unit's activation after each character (an LSTM's cell state, the hidden state of
the other cells).

The text is laid out as evaluation lays out a validation split (``eval_streams``: B contiguous
streams, state carried along each, T characters per batch), so over the validation text the mean
of the per-character bits is exactly ``charlm-tui eval``'s bits per character. Each batch is one
fused forward pass per layer; the cell states, which the fused kernel does not return per step,
come from the cell's own step (the cell registry's ``torch_step``) fed with the gate inputs of
the whole batch, computed in one matrix product from the layer's inputs and its outputs shifted
by one: a loop over the B x T batch's columns, never over characters one by one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from charlm_tui.core.data.batching import eval_streams
from charlm_tui.core.data.vocab import Vocab
from charlm_tui.core.model.charlm import CharLM

TOP_K = 5
MAX_VALUES = 60_000_000  # characters x units of activations kept (240 MB of float32) at most
SHORT_TEXT = 4096  # a text shorter than this many characters per stream is scored as fewer streams


@dataclass
class Scored:
    """What a model made of a text. Position i is the text's character i; ``bits[i]`` is what the
    model paid for it given the text before it (NaN where it was not scored: the first character,
    and the tail the stream layout leaves out), ``top_ids``/``top_probs`` its predictions there,
    ``acts[i]`` every unit's activation after reading it (layer-major: unit u of layer l is column
    l x hidden + u)."""

    text: str
    bits: np.ndarray  # (N,) float64
    top_ids: np.ndarray  # (N, TOP_K) int64, -1 where not scored
    top_probs: np.ndarray  # (N, TOP_K) float32
    acts: np.ndarray | None  # (N, layers x hidden) float32, NaN rows where not computed
    layers: int
    hidden: int
    cell: str
    scored_to: int = 0  # characters [0, scored_to) are final (the rest: NaN until their batch is done)

    @property
    def mean_bits(self) -> float:
        """Bits per character over the scored characters."""
        b = self.bits[np.isfinite(self.bits)]
        return float(b.mean()) if b.size else math.nan

    @property
    def activation_kind(self) -> str:
        return "cell state" if self.cell == "lstm" else "hidden state"

    def unit(self, layer: int, index: int) -> np.ndarray:
        if self.acts is None:
            raise ValueError("activations were not computed")
        return self.acts[:, layer * self.hidden + index]


def streams_for(n_chars: int, batch_size: int) -> int:
    """Streams to score a text with: the run's batch (evaluation's layout) for a long text; fewer
    for a short one, whose streams would otherwise each start cold."""
    return max(1, min(batch_size, n_chars // SHORT_TEXT))


def max_chars(model: CharLM) -> int:
    """The longest text whose activations are kept (MAX_VALUES over the units)."""
    return max(10_000, MAX_VALUES // max(1, model.num_layers * model.hidden_size))


@torch.inference_mode()
def score(
    model: CharLM,
    vocab: Vocab,
    text: str,
    streams: int,
    num_steps: int,
    activations: bool = True,
    on_batch: Callable[[Scored, float], None] | None = None,
) -> Scored:
    """Score ``text`` (see the module's doc). ``on_batch(scored, fraction)`` hears each batch as it
    is done (a screen shows the text at once and colours it as the scores come)."""
    was_training = model.training
    model.eval()
    try:
        return _score(model, vocab, text, streams, num_steps, activations, on_batch)
    finally:
        model.train(was_training)


def _score(model, vocab, text, streams, num_steps, activations, on_batch) -> Scored:
    n = len(text)
    units = model.num_layers * model.hidden_size
    out = Scored(
        text,
        np.full(n, np.nan),
        np.full((n, TOP_K), -1, dtype=np.int64),
        np.zeros((n, TOP_K), dtype=np.float32),
        np.full((n, units), np.nan, dtype=np.float32) if activations else None,
        model.num_layers,
        model.hidden_size,
        model.cell,
    )
    if n < 2:
        out.scored_to = n
        return out
    device = model.head.weight.device
    data = torch.tensor(vocab.encode(text), dtype=torch.long)
    batches = eval_streams(data, streams, num_steps)
    b_rows, length = batches.x.shape
    k_top = min(TOP_K, model.head.out_features)
    state = None
    done = 0
    for k in range(len(batches)):
        b = batches.batch(0, k)
        x, y = b.x.to(device), b.y.to(device)
        logits, state, acts = _forward(model, x, state, activations)
        logp = torch.log_softmax(logits.float(), dim=-1)
        nll = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)  # (B, T)
        top = logp.topk(k_top, dim=-1)
        cols = torch.arange(done, done + x.shape[1])
        # x[r, j] is text position r x L + j; it predicts position r x L + j + 1
        pos = (torch.arange(b_rows).unsqueeze(1) * length + cols.unsqueeze(0)).reshape(-1).numpy()
        out.bits[pos + 1] = (nll / math.log(2)).double().reshape(-1).cpu().numpy()
        out.top_ids[pos + 1, :k_top] = top.indices.reshape(-1, k_top).cpu().numpy()
        out.top_probs[pos + 1, :k_top] = top.values.exp().reshape(-1, k_top).cpu().numpy()
        if out.acts is not None and acts is not None:
            out.acts[pos] = acts.reshape(-1, units).cpu().numpy()
        done += x.shape[1]
        out.scored_to = done + 1 if b_rows == 1 else 0  # one stream: the text is final up to here
        if on_batch is not None:
            on_batch(out, done / length)
    out.scored_to = n
    return out


def _forward(model: CharLM, x: torch.Tensor, state, activations: bool):
    """One batch: logits, the new state, and (B, T, layers x hidden) activations (or None)."""
    lstm = model.has_cell_state
    if state is None:
        state = model.init_state(x.shape[0])
    h_in = model.embed(x)
    hs, cs, acts = [], [], []
    for i, layer in enumerate(model.layers):
        s = (state[0][i : i + 1], state[1][i : i + 1]) if lstm else state[i : i + 1]
        h_out, s_new = layer(h_in, s)
        if activations:
            acts.append(_cell_states(model, layer, h_in, h_out, s) if lstm else h_out)
        if lstm:
            hs.append(s_new[0])
            cs.append(s_new[1])
        else:
            hs.append(s_new)
        h_in = h_out
    new_state = (torch.cat(hs), torch.cat(cs)) if lstm else torch.cat(hs)
    return model.head(h_in), new_state, (torch.cat(acts, dim=-1) if activations else None)


def _cell_states(model: CharLM, layer, h_in: torch.Tensor, h_out: torch.Tensor, s) -> torch.Tensor:
    """(B, T, H) cell states of one layer over a batch: the gate inputs of every column at once
    (inputs x W_ih, previous outputs x W_hh, one matrix product each), then the cell's own NumPy step
    (the CPU stepper's, in place) column by column."""
    spec, H = model.spec, model.hidden_size
    h_prev = torch.cat([s[0].transpose(0, 1), h_out[:, :-1]], dim=1)
    gi = h_in @ layer.weight_ih_l0.T
    gh = h_prev @ layer.weight_hh_l0.T
    b_hh = None
    if getattr(layer, "bias_ih_l0", None) is not None:
        gi = gi + layer.bias_ih_l0
        if spec.fold_biases:
            gh = gh + layer.bias_hh_l0
        else:
            b_hh = layer.bias_hh_l0.detach().float().cpu().numpy()
    gi_np = gi.float().cpu().numpy()
    gh_np = gh.float().cpu().numpy()
    c = s[1][0].float().cpu().numpy().copy()
    h = np.empty_like(c)
    scratch = np.empty_like(gh_np[:, 0])
    out = np.empty((gi_np.shape[0], gi_np.shape[1], H), dtype=np.float32)
    for t in range(gi_np.shape[1]):
        g = gh_np[:, t].copy()
        spec.numpy_step(g, gi_np[:, t], h, c, scratch, b_hh, H)
        out[:, t] = c
    return torch.from_numpy(out).to(h_out.device)
