"""The sampling controls (top-p, min-p, repetition penalty, stop strings, seed), best-of-N and beam
search, with exact expectations on hand-made logits and brute force on a tiny model."""

import itertools
import math

import numpy as np
import pytest
import torch

from charlm_tui.core.cells import cell_names
from charlm_tui.core.config import SamplingControl
from charlm_tui.core.data.vocab import Vocab
from charlm_tui.core.errors import ConfigError, GenerationError
from charlm_tui.core.model.charlm import CharLM
from charlm_tui.core.model.sampling import (
    RecentWindow,
    StopMatcher,
    beam_search,
    best_of,
    distribution,
    generate,
    pick,
)
from charlm_tui.core.model.stepper import CpuStepper, TorchStepper

# id 0 is <unk> (never drawn); ids 1-4 have the probabilities 0.5, 0.3, 0.15, 0.05
P = np.array([0.0, 0.5, 0.3, 0.15, 0.05])
LOGITS = np.log(np.where(P > 0, P, 1e-30)) + 3.0  # an offset changes nothing


def dist(**kw):
    recent = kw.pop("recent", None)
    return distribution(LOGITS.copy(), SamplingControl(temperature=kw.pop("temperature", 1.0), **kw), recent)


def test_neutral_controls_give_the_model_distribution():
    assert dist() == pytest.approx(P, abs=1e-12)


@pytest.mark.parametrize(
    ("top_p", "kept"),
    [
        (0.3, [1]),
        (0.5, [1]),
        (0.79, [1, 2]),
        (0.8, [1, 2]),
        (0.81, [1, 2, 3]),
        (0.96, [1, 2, 3, 4]),
        (1.0, [1, 2, 3, 4]),
    ],
)
def test_top_p_keeps_the_likeliest_until_their_sum_reaches_p(top_p, kept):
    want = np.zeros(5)
    want[kept] = P[kept] / P[kept].sum()
    assert dist(top_p=top_p) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize(("min_p", "kept"), [(0.1, [1, 2, 3, 4]), (0.3, [1, 2, 3]), (0.6, [1, 2]), (0.61, [1])])
def test_min_p_keeps_characters_at_least_min_p_times_the_likeliest(min_p, kept):
    want = np.zeros(5)
    want[kept] = P[kept] / P[kept].sum()
    assert dist(min_p=min_p) == pytest.approx(want, abs=1e-12)


def test_repetition_penalty_divides_the_probability_of_recent_characters():
    recent = RecentWindow(5, 3, [1, 1, 2, 3])  # the last 3 ids: 1, 2, 3 (the first 1 fell out)
    assert recent.counts.tolist() == [0, 1, 1, 1, 0]
    q = P.copy()
    q[[1, 2, 3]] /= 2.0
    assert dist(repetition_penalty=2.0, recent=recent) == pytest.approx(q / q.sum(), abs=1e-12)
    recent.push(4)  # the window slides: 1 leaves
    assert recent.counts.tolist() == [0, 0, 1, 1, 1]
    recent.resize(1)
    assert recent.counts.tolist() == [0, 0, 0, 0, 1]


def test_the_filters_apply_in_the_documented_order():
    recent = RecentWindow(5, 8, [1])
    # penalty 4 first: 0.125, 0.3, 0.15, 0.05 (sum 0.625) -> 0.2, 0.48, 0.24, 0.08; then top-p 0.7
    # walks 0.48 (id 2), 0.24 (id 3: the sum crosses 0.7) and stops: id 1, likeliest before, is out
    got = dist(repetition_penalty=4.0, top_p=0.7, recent=recent)
    assert got == pytest.approx([0, 0, 0.48 / 0.72, 0.24 / 0.72, 0], abs=1e-12)
    # temperature 0.5 squares the ratios before top-k 2 and min-p 0.3: 0.25, 0.09 kept, then 0.09 >= 0.075
    got = dist(temperature=0.5, top_k=2, min_p=0.3)
    assert got == pytest.approx([0, 0.25 / 0.34, 0.09 / 0.34, 0, 0], abs=1e-12)
    # greedy after the penalty picks what the penalty left likeliest
    assert dist(temperature=0.0, repetition_penalty=2.0, recent=recent).tolist() == [0, 0, 1, 0, 0]


def test_pick_draws_only_what_the_filters_keep_and_reports_the_model_probability():
    rng = np.random.default_rng(0)
    control = SamplingControl(temperature=1.0, top_p=0.8)
    draws = [pick(LOGITS.copy(), control, rng) for _ in range(2000)]
    counts = np.bincount([d[0] for d in draws], minlength=5)
    assert counts[0] == counts[3] == counts[4] == 0
    assert abs(counts[1] / 2000 - 0.625) < 5 * math.sqrt(0.625 * 0.375 / 2000)  # seeded: exact, not flaky
    assert {d[0]: d[1] for d in draws} == pytest.approx({1: 0.5, 2: 0.3})  # before any filter


def test_controls_are_checked():
    for bad in ({"top_p": 0.0}, {"top_p": 1.5}, {"min_p": 1.0}, {"repetition_penalty": 0.5}, {"stop": ("",)}):
        with pytest.raises(ConfigError):
            SamplingControl(**bad)
    with pytest.raises(ConfigError):
        SamplingControl(repetition_window=0)


def test_stop_matcher_holds_back_what_could_start_a_stop_string():
    m = StopMatcher(["\n\n", "END"], text=lambda x: x)
    assert m.push("a") == (["a"], False)
    assert m.push("\n") == ([], False)  # could be the start of a blank line
    assert m.push("b") == (["\n", "b"], False)
    assert m.push("E") == ([], False)
    assert m.push("N") == ([], False)
    assert m.push("E") == (["E", "N"], False)  # "ENE": only the last E can still start END
    assert m.flush() == ["E"]
    assert m.push("x") == (["x"], False)
    for c in "EN":
        m.push(c)
    assert m.push("D") == ([], True)  # the stop string is not shown
    m = StopMatcher(["ab"], text=lambda x: x)
    assert [m.push(c) for c in "aab"] == [([], False), (["a"], False), ([], True)]


V = Vocab("abcdefgh \n")


def tiny(seed=0, cell="lstm"):
    torch.manual_seed(seed)
    m = CharLM(V.size, 8, 16, 2, 0.0, cell)
    with torch.no_grad():
        m.head.weight.mul_(6)
    return m.eval()


def text(m, prompt, n, seed=0, **kw):
    return "".join(s.char for s in generate(m, V, prompt, n, SamplingControl(**kw), seed=seed))


def test_a_stream_ends_before_its_first_stop_string():
    m = tiny()
    full = text(m, "abc", 300, seed=3, temperature=1.0)
    stop = full[40:42]
    cut = full.index(stop)
    assert text(m, "abc", 300, seed=3, temperature=1.0, stop=(stop,)) == full[:cut]
    assert text(m, "abc", 300, seed=3, temperature=1.0, stop=("zz",)) == full  # never appears: all of it


def test_the_seed_decides_the_text():
    m = tiny()
    assert text(m, "ab", 80, seed=5, temperature=1.0) == text(m, "ab", 80, seed=5, temperature=1.0)
    assert text(m, "ab", 80, seed=5, temperature=1.0) != text(m, "ab", 80, seed=6, temperature=1.0)


def test_a_control_changed_mid_stream_applies_from_the_next_character():
    m = tiny()
    control = SamplingControl(temperature=1.0)
    out = []
    for i, s in enumerate(generate(m, V, "ab", 60, control, seed=2)):
        out.append(s.char)
        if i == 29:
            control.temperature = 0.0
            control.repetition_penalty = 3.0
    # from character 31 on, each is the argmax after the penalty: check against distribution()
    seen = V.encode("ab" + "".join(out[:30]))
    window = RecentWindow(V.size, control.repetition_window, seen)
    with torch.no_grad():
        full, state = m(torch.tensor([seen]))
    stepper = m.stepper()
    stepper.load(state)
    logits = full[0, -1].numpy().copy()
    for c in out[30:]:
        want = int(np.argmax(distribution(logits.copy(), control, window)))
        assert V.itos(want) == c
        window.push(want)
        logits = stepper.step(want)


@pytest.mark.parametrize("cell", cell_names())
@pytest.mark.parametrize("backend", [CpuStepper, TorchStepper])
def test_a_batched_stepper_matches_batch_one_steppers_row_by_row(cell, backend):
    m = tiny(1, cell)
    with torch.no_grad():
        _, state = m(torch.tensor([V.encode("abc")]))
    batched = backend(m, 3)
    batched.load(CharLM.map_state(state, lambda t: t.expand(-1, 3, -1).contiguous()))
    singles = [backend(m) for _ in range(3)]
    for s in singles:
        s.load(state)
    rng = np.random.default_rng(0)
    for step in range(20):
        tokens = rng.integers(1, V.size, 3)
        out = batched.step(tokens)
        for b in range(3):
            np.testing.assert_allclose(out[b], singles[b].step(int(tokens[b])), rtol=1e-5, atol=1e-5)
        if step == 10:  # beam search's reorder: rows become copies of other rows
            batched.reorder([2, 2, 0])
            keep = [singles[2].state(), singles[0].state()]
            singles[0].load(keep[0])
            singles[1].load(keep[0])
            singles[2].load(keep[1])


def model_logprob(m, prompt, cont):
    ids = V.encode(prompt + cont)
    with torch.no_grad():
        logits, _ = m(torch.tensor([ids]))
    lp = logits[0].clone()
    lp[:, 0] = -float("inf")
    lp = torch.log_softmax(lp, -1)
    n = len(V.encode(prompt))
    return float(sum(lp[n - 1 + i, ids[n + i]] for i in range(len(cont))))


def test_best_of_n_ranks_by_the_model_mean_log_probability():
    m = tiny()
    found = best_of(m, V, "abc", 4, 30, SamplingControl(temperature=1.2), seed=0)
    assert len(found) == 4
    assert [c.mean_logprob for c in found] == sorted((c.mean_logprob for c in found), reverse=True)
    for c in found:
        assert c.chars == len(c.text) == 30
        assert c.logprob == pytest.approx(model_logprob(m, "abc", c.text), abs=1e-3)
    # one row draws what a stream with the same seed draws
    one = best_of(m, V, "abc", 1, 30, SamplingControl(temperature=1.2), seed=7)
    assert one[0].text == text(m, "abc", 30, seed=7, temperature=1.2)


def test_best_of_honours_stop_strings():
    m = tiny()
    found = best_of(m, V, "abc", 6, 200, SamplingControl(temperature=1.5, stop=("a",)), seed=1)
    assert all("a" not in c.text for c in found)
    assert any(c.stopped for c in found)
    with pytest.raises(GenerationError):
        best_of(m, V, "abc", 0, 10)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_beam_search_wide_enough_is_exact_search(cell):
    m = tiny(2, cell)
    chars = [V.itos(i) for i in range(1, V.size)]
    scored = {a + b: model_logprob(m, "ab", a + b) for a, b in itertools.product(chars, chars)}
    best = max(scored, key=scored.get)
    found = beam_search(m, V, "ab", len(chars), 2)  # width >= V-1 keeps every 1-char prefix
    assert found[0].text == best
    assert found[0].logprob == pytest.approx(scored[best], abs=1e-4)
    assert [c.text for c in found] == sorted(scored, key=scored.get, reverse=True)[: len(chars)]


def test_beam_width_one_is_greedy():
    m = tiny(3)
    assert beam_search(m, V, "abc", 1, 40)[0].text == text(m, "abc", 40, temperature=0.0)


def test_beam_search_stop_strings_end_a_beam_and_rank_by_mean():
    m = tiny(3)
    greedy = text(m, "abc", 40, temperature=0.0)
    stop = greedy[5]
    found = beam_search(m, V, "abc", 1, 40, stop=(stop,))
    assert found[0].text == greedy[: greedy.index(stop)] and found[0].stopped
