"""Look inside: surprisal equals evaluation, activations equal a direct forward pass, discovery
finds a unit planted by hand, features are what they say, the page holds no external reference."""

from __future__ import annotations

import html.parser
import math
import re

import numpy as np
import pytest
import torch

from charlm_tui.core.analysis import features as F
from charlm_tui.core.analysis import page
from charlm_tui.core.analysis.discovery import correlations, discover
from charlm_tui.core.analysis.scoring import score
from charlm_tui.core.cells import cell_names
from charlm_tui.core.data.vocab import Vocab
from charlm_tui.core.model.charlm import CharLM
from charlm_tui.core.training.trainer import evaluate

TEXT = 'She said "hello (world)" and left.\n  He said "bye [now]".\n' * 40


def model(cell: str = "lstm", seed: int = 0, layers: int = 2, hidden: int = 12) -> tuple[CharLM, Vocab]:
    torch.manual_seed(seed)
    vocab = Vocab(sorted(set(TEXT)))
    return CharLM(vocab.size, 8, hidden, layers, 0.0, cell).eval(), vocab


@pytest.mark.parametrize("streams, steps", [(4, 16), (1, 10), (7, 9)])
def test_the_mean_surprisal_is_evaluations_bits_per_char(streams, steps):
    m, vocab = model()
    s = score(m, vocab, TEXT, streams, steps)
    ev = evaluate(m, torch.tensor(vocab.encode(TEXT)), streams, steps)
    assert abs(s.mean_bits - ev.bpc) < 1e-6 and int(np.isfinite(s.bits).sum()) == ev.tokens
    assert math.isnan(s.bits[0])  # nothing predicts the first character


def test_each_characters_bits_and_top_predictions_are_the_models():
    m, vocab = model()
    s = score(m, vocab, TEXT[:200], 1, 50)
    with torch.no_grad():
        logits, _ = m(torch.tensor([vocab.encode(TEXT[:200])]))
    logp = torch.log_softmax(logits[0], -1)
    ids = vocab.encode(TEXT[:200])
    want = [-float(logp[i - 1, ids[i]]) / math.log(2) for i in range(1, 200)]
    np.testing.assert_allclose(s.bits[1:], want, rtol=1e-5, atol=1e-5)
    top = torch.topk(logp[41].exp(), 5)
    assert list(s.top_ids[42]) == top.indices.tolist()
    np.testing.assert_allclose(s.top_probs[42], top.values.numpy(), rtol=1e-5)


@pytest.mark.parametrize("cell", cell_names())
def test_the_activations_are_a_direct_forward_passes(cell):
    """Every unit after every character against the layers run one character at a time (the
    cell's own torch module, state carried): the cell state for an LSTM, the hidden state else."""
    m, vocab = model(cell)
    text = TEXT[:120]
    s = score(m, vocab, text, 3, 8)
    L = (len(text) - 1) // 3
    x = torch.tensor(vocab.encode(text))
    with torch.no_grad():
        for r in range(3):  # each stream from a zero state, as scoring lays the text out
            state = m.init_state(1)
            for j in range(L):
                pos = r * L + j
                inp = m.embed(x[pos : pos + 1].view(1, 1))
                hs, cs, acts = [], [], []
                for i, layer in enumerate(m.layers):
                    st = (state[0][i : i + 1], state[1][i : i + 1]) if m.has_cell_state else state[i : i + 1]
                    inp, st = layer(inp, st)
                    if m.has_cell_state:
                        hs.append(st[0])
                        cs.append(st[1])
                        acts.append(st[1][0, 0])
                    else:
                        hs.append(st)
                        acts.append(st[0, 0])
                state = (torch.cat(hs), torch.cat(cs)) if m.has_cell_state else torch.cat(hs)
                np.testing.assert_allclose(s.acts[pos], torch.cat(acts).numpy(), rtol=1e-4, atol=1e-5)
    assert np.isnan(s.acts[3 * L :]).all()  # the tail no stream covers


def planted_quote_cell(hidden: int = 8) -> tuple[CharLM, Vocab]:
    """A one-layer LSTM whose unit 0 flips its cell state at every double quote: +1 inside quotes,
    -1 outside (0 before the first). Input and forget gates open and close on the quote only; the
    candidate reads the unit's own last output, so each quote flips the sign."""
    m, vocab = model("lstm", seed=1, layers=1, hidden=hidden)
    K, k, H = 30.0, 12.0, hidden
    q = vocab.encode('"')[0]
    lstm = m.layers[0]
    with torch.no_grad():
        m.embed.weight.mul_(0.1)
        m.embed.weight[:, 0] = 0.0
        m.embed.weight[q, 0] = 1.0
        for w in (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0):
            w[[0, H, 2 * H, 3 * H]] = 0.0
        lstm.weight_ih_l0[0, 0], lstm.bias_ih_l0[0] = K, -K / 2  # input gate: open on a quote
        lstm.weight_ih_l0[H, 0], lstm.bias_ih_l0[H] = -K, K / 2  # forget gate: keep, except on a quote
        lstm.weight_hh_l0[2 * H, 0], lstm.bias_ih_l0[2 * H] = -k, k / 2  # candidate: the opposite sign
        lstm.bias_ih_l0[3 * H] = K  # output gate open
    return m, vocab


def test_discovery_finds_a_planted_quote_cell_and_ranks_it_first():
    m, vocab = planted_quote_cell()
    s = score(m, vocab, TEXT, 1, 64)
    inside = F.inside_quotes(TEXT)
    assert np.corrcoef(s.unit(0, 0)[:-1], inside[:-1])[0, 1] > 0.95  # the plant works
    d = discover(s)
    top = d.top["inside quotes"][0]
    assert (top.layer, top.index) == (0, 0) and top.r > 0.95
    assert d.matches[0].feature == "inside quotes" and "cell 0:0 tracks 'inside quotes'" in d.matches[0].describe()
    assert "inside a comment" in d.absent  # no '#' in the text: said, not ranked


def test_correlations_are_pearsons_r():
    rng = np.random.default_rng(0)
    a, f = rng.normal(size=(500, 4)), rng.normal(size=(500, 3))
    f[:, 2] = 1.0  # constant: r 0, not NaN
    r = correlations(a, f)
    for u in range(4):
        for j in range(2):
            assert r[u, j] == pytest.approx(np.corrcoef(a[:, u], f[:, j])[0, 1])
    assert (r[:, 2] == 0).all()


def test_features_say_what_they_track():
    t = 'a "b" (c[d])\n  x = "s#" # note\n'
    assert F.inside_quotes(t)[:6].tolist() == [0, 0, 1, 1, 0, 0]
    assert F.bracket_depth(t)[6:13].tolist() == [1, 1, 2, 2, 1, 0, 0]
    assert F.line_position(t)[12:16].tolist() == [0, 1, 2, 3]
    assert F.indentation(t)[13:17].tolist() == [1, 2, 2, 2]
    assert F.word_start("ab cd_e f1")[:10].tolist() == [1, 0, 0, 1, 0, 0, 0, 0, 1, 0]
    assert F.after_newline(t)[12] == 1 and F.after_newline(t).sum() == 2
    code = 'x = "a#b"  # c\ny = """q\nr"""\n'
    com, st = F.in_comment(code), F.in_string(code)
    assert "".join(ch for ch, v in zip(code, com, strict=True) if v) == "# c"
    assert "".join(ch for ch, v in zip(code, st, strict=True) if v) == '"a#b"""q\nr'


class _Refs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags = [], 0

    def handle_starttag(self, tag, attrs):
        self.tags += 1
        for k, v in attrs:
            if k in ("src", "href", "srcset", "action", "data") and v:
                self.refs.append(v)
        if tag in ("link", "iframe", "object", "embed", "img", "base"):
            self.refs.append(tag)


def test_the_page_parses_and_holds_no_external_reference():
    m, vocab = model()
    text = TEXT[:300] + '</script><img src="http://evil/x">'
    s = score(m, vocab, text, 1, 32)
    top = [
        [(vocab.itos(int(i)), float(p)) for i, p in zip(s.top_ids[k], s.top_probs[k], strict=True) if i >= 0]
        for k in range(len(text))
    ]
    doc = page.html_page(
        "run: inside", "headline", text, s.bits, top, ("0:1", s.unit(0, 1), "cell state"), ["cell 0:1 tracks x"]
    )
    p = _Refs()
    p.feed(doc)
    p.close()
    assert p.refs == [] and p.tags > len(text) // 2
    assert not re.search(r"(https?:)?//", doc) and "<img" not in doc and "&lt;" in doc
    assert doc.count("<script") == 2 and "</script><img" not in doc


def test_bands_and_the_activation_scale():
    assert [page.band(b) for b in (0.1, 0.5, 1.6, 3.0, 7.0, math.nan)] == [0, 1, 2, 3, 4, 0]
    assert page.bands(np.array([0.1, 0.5, 1.6, 3.0, 7.0, np.nan])).tolist() == [0, 1, 2, 3, 4, 0]
    assert page.act_color(1.0, 1.0) == "#ff0000" and page.act_color(-1.0, 1.0) == "#0000ff"
    assert page.act_color(0.0, 1.0) == "#ffffff" and page.act_color(math.nan, 1.0) is None
