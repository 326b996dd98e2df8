"""Reference lines (what a good loss is for a corpus): exact expectations on hand-computed cases."""

import json
import lzma
import math

import numpy as np
import pytest

from charlm_tui.core.data.corpus import corpus_from_text
from charlm_tui.core.data.references import (
    References,
    cache_path,
    compute,
    kneser_ney_bpc,
    references_for,
    unigram_bpc,
    xz_bpc,
)


def test_unigram_is_add_one_smoothed_training_frequencies():
    # V = 3 (<unk>, a, b); counts + 1 = [1, 3, 2] of 6: p(a) = 1/2
    assert unigram_bpc(np.array([1, 1, 2]), np.array([1]), 3) == pytest.approx(1.0)
    assert unigram_bpc(np.array([1, 1, 2]), np.array([1, 2]), 3) == pytest.approx((1 + math.log2(3)) / 2)


def test_kneser_ney_matches_a_hand_computed_bigram():
    # train "ababa", predict "b" after "a"; ids a=1, b=2, V=3 (with <unk>).
    # order 1 uses continuation counts: a and b each follow one distinct character -> [1, 1],
    # D1 = 0.5 (no count of 2), so P1(b) = (1 - 0.5)/2 + 0.5 * 2/2 * 1/3.
    # order 2 uses raw counts: ab = 2, ba = 2, D2 = 0.5; "a" is followed by one distinct character:
    # P2(b|a) = (2 - 0.5)/2 + 0.5 * 1/2 * P1(b)
    p1 = 0.5 / 2 + 0.5 * 2 / 2 / 3
    p2 = 1.5 / 2 + 0.5 * 1 / 2 * p1
    assert kneser_ney_bpc(np.array([1, 2, 1, 2, 1]), np.array([2]), 3, order=2) == pytest.approx(-math.log2(p2))


def test_kneser_ney_is_a_distribution_over_the_vocabulary():
    rng = np.random.default_rng(0)
    V = 6
    train = rng.integers(1, V, 400)
    for order in (1, 2, 3, 5):
        total = sum(2 ** -kneser_ney_bpc(train, np.array([w]), V, order) for w in range(V))
        assert total == pytest.approx(1.0, abs=1e-12), order


def test_kneser_ney_learns_what_repeats():
    train = np.array([1, 2, 3, 4] * 200)
    val = np.array([1, 2, 3, 4] * 10)
    assert kneser_ney_bpc(train, val, 5, 3) < 0.05 < unigram_bpc(train, val, 5)


def test_xz_figure_is_the_extra_bytes_for_the_validation_text():
    train, val = "the cat sat on the mat. " * 50, "the dog sat on the log. " * 5
    extra = len(lzma.compress((train + val).encode(), preset=6)) - len(lzma.compress(train.encode(), preset=6))
    assert xz_bpc(train, val) == pytest.approx(extra * 8 / len(val))


def test_references_of_a_corpus_use_the_trainer_split_and_are_cached(home):
    text = "the cat sat on the mat. the dog sat on the log.\n" * 40
    corpus = corpus_from_text(text)
    ref = references_for(corpus, 0.1, home)
    assert ref.val_chars == round(len(text) * 0.1) and ref.uniform == pytest.approx(math.log2(corpus.vocab.size))
    assert ref.ngram < ref.unigram < ref.uniform
    path = cache_path(home, corpus.sha256, 0.1)
    assert json.loads(path.read_text())["ngram"] == ref.ngram
    # a damaged or hand-edited cache entry is recomputed, never trusted
    for bad in ("{not json", json.dumps({"version": 1, "sha256": corpus.sha256, "ngram": "x"})):
        path.write_text(bad)
        again = references_for(corpus, 0.1, home)
        assert again.ngram == ref.ngram and json.loads(path.read_text())["ngram"] == ref.ngram
    assert compute(corpus.ids_np, corpus.vocab.chars, 0.1).xz == ref.xz


def test_the_verdict_says_by_how_much():
    ref = References(uniform=6.7, unigram=4.6, ngram=2.0, xz=1.5, ngram_order=5, val_chars=100)
    assert ref.verdict(1.59) == "beats the 5-gram by 0.41 bits/char; 0.09 bits/char short of xz"
    assert ref.verdict(1.2) == "beats the 5-gram by 0.80 bits/char; beats xz by 0.30 bits/char"
