import threading

import numpy as np
import pytest
import torch

from charlm_tui.core.data.vocab import UNK_ID, Vocab
from charlm_tui.core.errors import GenerationError
from charlm_tui.core.model.charlm import CharLM
from charlm_tui.core.model.sampling import SamplingControl, generate, pick

V = Vocab("abcdefgh \n")


def sample(*args, **kw):
    """The characters ``generate`` yields, without their probabilities."""
    return (s.char for s in generate(*args, **kw))


def model(seed=0, cell="lstm"):
    torch.manual_seed(seed)
    m = CharLM(V.size, 8, 16, 2, 0.0, cell)
    with torch.no_grad():  # sharper distributions so greedy paths are not all one char
        m.head.weight.mul_(8)
    return m.eval()


def greedy_by_full_recompute(m, prompt, n):
    ids = V.encode(prompt)
    out = []
    with torch.no_grad():
        for _ in range(n):
            logits, _ = m(torch.tensor([ids]))
            last = logits[0, -1].clone()
            last[UNK_ID] = -float("inf")
            nxt = int(torch.argmax(last))
            out.append(nxt)
            ids.append(nxt)
    return V.decode(out)


def test_temperature_zero_is_argmax_and_deterministic():
    m = model()
    a = "".join(sample(m, V, "abc ", 40, SamplingControl(temperature=0.0)))
    b = "".join(sample(m, V, "abc ", 40, SamplingControl(temperature=0.0)))
    assert a == b == greedy_by_full_recompute(m, "abc ", 40)


def test_seed_makes_a_sample_reproducible():
    m = model()
    c = SamplingControl(temperature=1.0)
    a = "".join(sample(m, V, "ab", 60, c, seed=5))
    b = "".join(sample(m, V, "ab", 60, c, seed=5))
    d = "".join(sample(m, V, "ab", 60, c, seed=6))
    assert a == b and a != d


def test_temperature_change_mid_stream_affects_the_next_char():
    m = model(1)
    ctrl = SamplingControl(temperature=2.0)
    got = ""
    for i, s in enumerate(generate(m, V, "hh", 30, ctrl, seed=0)):
        got += s.char
        if i == 9:
            ctrl.set_temperature(0.0)  # from the 11th character on: greedy
    tail = got[10:]
    assert tail == greedy_by_full_recompute(m, "hh" + got[:10], 20)


def test_top_k_one_is_greedy():
    m = model(2)
    a = "".join(sample(m, V, "abc", 30, SamplingControl(temperature=1.5, top_k=1), seed=1))
    assert a == greedy_by_full_recompute(m, "abc", 30)


def test_unseen_prompt_chars_never_crash_and_unk_is_never_emitted():
    m = model(3)
    out = list(generate(m, V, "xyz 日本 ab", 200, SamplingControl(temperature=1.0), seed=0))
    assert len(out) == 200
    assert all(s.id != UNK_ID and s.char in V for s in out)
    assert all(0.0 <= s.prob <= 1.0 for s in out)
    assert len("".join(sample(m, V, "", 10, seed=1))) == 10  # empty prompt


def test_stop_event_ends_the_stream():
    m = model()
    stop = threading.Event()
    got = []
    for ch in (s.char for s in generate(m, V, "a", 1000, seed=0, stop_event=stop)):
        got.append(ch)
        if len(got) == 7:
            stop.set()
    assert len(got) == 7


def test_generation_leaves_model_mode_alone():
    m = model().train()
    list(sample(m, V, "a", 3, seed=0))
    assert m.training


def test_pick_draws_from_softmax_at_the_temperature():
    logits = np.log(np.array([1e-9, 1.0, 2.0, 3.0, 4.0], dtype=np.float32))  # id 0 is <unk>
    rng = np.random.default_rng(0)
    n = 40_000
    for t in (1.0, 0.5, 2.0):
        counts = np.bincount(
            [pick(logits.copy(), SamplingControl(temperature=t), rng)[0] for _ in range(n)], minlength=5
        )
        want = np.array([0, 1, 2, 3, 4], dtype=float) ** (1 / t)
        want /= want.sum()
        assert counts[0] == 0  # <unk> is never drawn
        # 5 standard deviations of a binomial count: a seeded draw, so this is exact and not flaky
        assert np.all(np.abs(counts / n - want) <= 5 * np.sqrt(want * (1 - want) / n) + 1e-12), (t, counts / n)


def test_pick_top_k_keeps_only_the_k_most_likely_and_reports_probability_at_t1():
    logits = np.array([0.0, 1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    rng = np.random.default_rng(1)
    drawn = {pick(logits.copy(), SamplingControl(temperature=1.5, top_k=2), rng)[0] for _ in range(500)}
    assert drawn == {3, 4}
    nxt, prob = pick(logits.copy(), SamplingControl(temperature=0.0), rng)
    p = np.exp(logits[1:]) / np.exp(logits[1:]).sum()  # <unk> excluded
    assert nxt == 4 and prob == pytest.approx(p[-1], rel=1e-6)


def test_a_model_with_nan_weights_gives_a_clear_error_not_garbage():
    m = model()
    with torch.no_grad():
        m.head.bias[3] = float("nan")
    with pytest.raises(GenerationError, match="not finite"):
        list(sample(m, V, "ab", 5, seed=0))
