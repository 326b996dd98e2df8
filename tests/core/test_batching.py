import pytest
import torch

from charlm_tui.core.config import steps_per_epoch
from charlm_tui.core.data.batching import (
    RandomBatches,
    SequentialBatches,
    check_fits,
    epoch_offset,
    eval_streams,
    split_train_val,
)
from charlm_tui.core.errors import ConfigError


def test_sequential_batches_continue_each_stream_exactly():
    data = torch.arange(103)
    B, T = 4, 5
    sb = SequentialBatches(data, B, T)
    L = (103 - 1) // B  # 25 per stream
    assert sb.stream_len == L and len(sb) == 5
    for k in range(len(sb)):
        b = sb.batch(0, k)
        for s in range(B):
            start = s * L + k * T
            assert b.x[s].tolist() == list(range(start, start + T))
            assert b.y[s].tolist() == list(range(start + 1, start + T + 1))
    # batch k+1 of a stream starts exactly where batch k ended
    b0, b1 = sb.batch(0, 0), sb.batch(0, 1)
    assert (b1.x[:, 0] == b0.x[:, -1] + 1).all()


def test_sequential_last_batch_is_shorter_not_dropped():
    sb = SequentialBatches(torch.arange(2 * 12 + 1), 2, 5)  # stream_len 12 -> 5, 5, 2
    assert len(sb) == 3
    assert sb.batch(0, 2).x.shape == (2, 2)
    assert sb.batch(0, 2).x[0].tolist() == [10, 11]


def test_sequential_training_epochs_start_at_their_own_offset():
    data = torch.arange(103)
    B, T = 4, 5
    sb = SequentialBatches(data, B, T, seed=7)
    # 4 characters (T - 1) kept free for the offsets: streams of (103 - 1 - 4) // 4 = 24
    assert sb.stream_len == 24 and len(sb) == 5 and len(sb) == steps_per_epoch(103, B, T)
    offsets = [sb.offset(e) for e in range(12)]
    assert offsets[0] == 0 and all(0 <= o <= 4 for o in offsets) and len(set(offsets)) > 1
    assert offsets == [epoch_offset(103, B, T, 7, e) for e in range(12)]
    assert offsets == [SequentialBatches(data, B, T, seed=7).offset(e) for e in range(12)]  # from (seed, epoch)
    for e in (0, 3, 1):  # in any order
        o = offsets[e]
        for k in range(len(sb)):
            b = sb.batch(e, k)
            for s in range(B):
                start = o + s * 24 + k * T
                width = min(T, 24 - k * T)
                assert b.x[s].tolist() == list(range(start, start + width))
                assert b.y[s].tolist() == list(range(start + 1, start + width + 1))
    assert sb.batch(1, 0).x.data_ptr() == data.data_ptr() + offsets[1] * data.element_size()  # still views
    # a text that only just fits one batch keeps every character: no room, no offsets
    tight = SequentialBatches(torch.arange(B * T + 1), B, T, seed=7)
    assert tight.stream_len == T and {tight.offset(e) for e in range(10)} == {0}


def test_sequential_batches_are_views_of_the_data():
    data = torch.arange(41)
    sb = SequentialBatches(data, 4, 5)
    assert sb.x.data_ptr() == data.data_ptr()


def test_random_batches_in_bounds_non_overlapping_and_reproducible():
    data = torch.arange(500)
    rb = RandomBatches(data, 4, 7, seed=3)
    seen = []
    for k in range(len(rb)):
        b = rb.batch(0, k)
        assert b.x.shape == (4, 7)
        assert (b.y == b.x + 1).all()
        assert int(b.y.max()) < 500 and int(b.x.min()) >= 0
        seen += b.x[:, 0].tolist()
        # each row is a contiguous subsequence
        assert ((b.x[:, 1:] - b.x[:, :-1]) == 1).all()
    assert len(set(seen)) == len(seen)  # starts are distinct
    starts = sorted(seen)
    assert all(b - a >= 7 for a, b in zip(starts, starts[1:]))  # no overlap
    again = RandomBatches(data, 4, 7, seed=3)
    assert torch.equal(again.batch(0, 2).x, rb.batch(0, 2).x)
    assert not torch.equal(rb.batch(1, 0).x, rb.batch(0, 0).x)  # a new shuffle each epoch
    assert RandomBatches.reset_state_each_batch and not SequentialBatches.reset_state_each_batch


def test_split_last_fraction_no_overlap():
    ids = torch.arange(100)
    tr, va = split_train_val(ids, 0.1)
    assert tr.tolist() == list(range(90)) and va.tolist() == list(range(90, 100))


def test_too_small_for_one_batch_says_how_small():
    with pytest.raises(ConfigError, match=r"has 20 characters.*needs at least 41"):
        check_fits(20, 4, 10)


def test_eval_streams_shrink_to_fit_small_validation():
    ev = eval_streams(torch.arange(30), 32, 10)
    assert ev.batch_size == 2 and ev.num_steps == 10
    total = sum(ev.batch(0, k).tokens for k in range(len(ev)))
    assert total == 2 * ((30 - 1) // 2)
