import pytest
import torch

from charlm_tui.core.errors import ConfigError
from charlm_tui.core.model import CharLM, ModelConfig, count_parameters


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_shapes_state_and_param_count(cell):
    torch.manual_seed(0)
    m = CharLM(11, embed_dim=5, hidden_size=7, num_layers=2, dropout=0.1, cell=cell)
    assert m.rnn.batch_first
    x = torch.randint(0, 11, (3, 4))
    logits, state = m(x)
    assert logits.shape == (3, 4, 11)
    st = m.init_state(3)
    if cell == "lstm":
        assert isinstance(state, tuple) and state[0].shape == (2, 3, 7) and st[1].shape == (2, 3, 7)
    else:
        assert state.shape == (2, 3, 7)
    assert count_parameters(m.config) == m.num_parameters()


def test_state_on_model_dtype():
    m = CharLM(5, 4, 6, 1, 0.0, "gru").to(torch.float64)
    assert m.init_state(2).dtype == torch.float64


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_detach_cuts_the_graph(cell):
    torch.manual_seed(0)
    m = CharLM(6, 4, 5, 1, 0.0, cell)
    x = torch.randint(0, 6, (2, 3))
    _, s1 = m(x)
    s1d = CharLM.detach_state(s1)
    parts = s1d if isinstance(s1d, tuple) else (s1d,)
    assert all(not p.requires_grad and p.grad_fn is None for p in parts)
    logits, _ = m(x, s1d)
    m.zero_grad()
    logits.sum().backward()  # would fail with "backward through the graph a second time" if not cut
    # the same values as the attached state
    orig = s1 if isinstance(s1, tuple) else (s1,)
    assert all(torch.equal(a, b) for a, b in zip(orig, parts))


def test_bad_config_is_refused_with_reason():
    with pytest.raises(ConfigError, match="cell must be one of"):
        ModelConfig(10, cell="transformer").validate()
    with pytest.raises(ConfigError, match="dropout"):
        ModelConfig(10, dropout=1.5).validate()
