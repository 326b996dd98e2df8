import numpy as np
import pytest
import torch

from charlm_tui.core.cells import cell_names, cell_shape
from charlm_tui.core.errors import ConfigError
from charlm_tui.core.model.charlm import CharLM, ModelConfig, count_parameters
from charlm_tui.core.model.stepper import CpuStepper, TorchStepper


@pytest.mark.parametrize("cell", cell_names())
def test_shapes_state_and_param_count(cell):
    torch.manual_seed(0)
    m = CharLM(11, embed_dim=5, hidden_size=7, num_layers=2, dropout=0.1, cell=cell)
    assert all(layer.batch_first for layer in m.layers)
    x = torch.randint(0, 11, (3, 4))
    logits, state = m(x)
    assert logits.shape == (3, 4, 11)
    st = m.init_state(3)
    if cell_shape(cell).cell_state:
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


def test_locked_dropout_shares_one_mask_across_time_and_is_off_in_eval():
    from charlm_tui.core.model.charlm import LockedDropout

    torch.manual_seed(0)
    d = LockedDropout(0.5)
    x = torch.ones(3, 7, 10)
    y = d(x)
    assert torch.equal(y, y[:, :1, :].expand_as(y))  # the same mask at every time step
    assert set(y.unique().tolist()) <= {0.0, 2.0}
    assert torch.equal(d.eval()(x), x)


def test_state_of_the_stack_matches_layer_by_layer():
    torch.manual_seed(0)
    m = CharLM(9, 4, 6, 3, 0.0, "lstm").eval()
    x = torch.randint(0, 9, (2, 5))
    _, (h, c) = m(x)
    assert h.shape == c.shape == (3, 2, 6)
    # running the same input in two halves with the state carried gives the same final state
    _, s1 = m(x[:, :2])
    _, (h2, c2) = m(x[:, 2:], s1)
    assert torch.allclose(h, h2, atol=1e-6) and torch.allclose(c, c2, atol=1e-6)


@pytest.mark.parametrize("backend", [CpuStepper, TorchStepper])
@pytest.mark.parametrize("cell", cell_names())
def test_stepper_matches_the_full_forward_one_token_at_a_time(cell, backend):
    torch.manual_seed(0)
    m = CharLM(13, 6, 10, 3, 0.3, cell).eval()
    with torch.no_grad():  # sizeable biases, so a bias folded in twice or dropped would show
        for name, p in m.named_parameters():
            if "bias" in name:
                p.uniform_(-1, 1)
    ids = [3, 1, 4, 1, 5, 9, 2, 6, 12, 0]
    with torch.inference_mode():
        full, full_state = m(torch.tensor([ids]))
        stepper = backend(m)
        _, state = m(torch.tensor([ids[:1]]))
        stepper.load(state)
        for t, tok in enumerate(ids[1:], start=1):
            logits = stepper.step(tok)
            assert isinstance(logits, np.ndarray) and logits.shape == (13,) and logits.dtype == np.float32
            torch.testing.assert_close(torch.from_numpy(logits), full[0, t], rtol=1e-5, atol=1e-6)
        joined = stepper.state()
    if cell_shape(cell).cell_state:
        for a, b in zip(joined, full_state):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    else:
        torch.testing.assert_close(joined, full_state, rtol=1e-5, atol=1e-6)


def test_a_stepper_is_a_snapshot_and_a_cpu_model_gets_the_cpu_one():
    torch.manual_seed(0)
    m = CharLM(13, 6, 10, 2, 0.0, "lstm").eval()
    stepper = m.stepper()
    assert isinstance(stepper, CpuStepper)
    stepper.load(m.init_state(1))
    before = stepper.step(3)
    with torch.no_grad():
        m.head.bias.add_(1.0)  # training goes on; the stepper made earlier does not change
        m.layers[0].weight_hh_l0.add_(1.0)
    stepper.load(m.init_state(1))
    assert np.array_equal(stepper.step(3), before)


@pytest.mark.parametrize("cell", cell_names())
def test_weight_drop_is_dropconnect_on_the_recurrent_weights_in_training_only(cell):
    """In training, each layer's hidden-to-hidden weights go through a fresh mask (kept weights
    scaled by 1/(1-p)): the output is exactly a plain model's with the masked weights; in
    evaluation the weights are whole; the gradient reaches the real weights through the mask."""
    p = 0.5
    torch.manual_seed(0)
    m = CharLM(9, 4, 6, 2, 0.0, cell, weight_drop=p)
    x = torch.randint(0, 9, (3, 5))
    plain = CharLM(9, 4, 6, 2, 0.0, cell)
    plain.load_state_dict(m.state_dict())
    torch.manual_seed(7)
    out, _ = m.train()(x)
    torch.manual_seed(7)  # the same masks, drawn in the same order: layer 0, then layer 1
    with torch.no_grad():
        for layer in plain.layers:
            w = layer.weight_hh_l0
            mask = torch.empty_like(w).bernoulli_(1.0 - p).div_(1.0 - p)
            assert set(mask.unique().tolist()) <= {0.0, 2.0}
            w.mul_(mask)
    expected, _ = plain.eval()(x)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    assert torch.equal(a, b), "no mask in evaluation"
    m.train()
    m(x)[0].sum().backward()
    assert all(layer.weight_hh_l0.grad is not None and layer.weight_hh_l0.grad.abs().sum() > 0 for layer in m.layers)
    assert m.config.weight_drop == p and CharLM.from_config(m.config).weight_drop == p
