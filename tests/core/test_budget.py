"""The budget value: limits, progress through them, another round; and the steps-per-epoch
arithmetic the Configure form shares with the batchers."""

import torch

from charlm_tui import formatting
from charlm_tui.core.config import TrainConfig, steps_per_epoch
from charlm_tui.core.data.batching import RandomBatches, SequentialBatches
from charlm_tui.core.training.budget import Budget, another_round


def test_the_first_limit_reached_ends_the_run():
    b = Budget.of(TrainConfig(max_epochs=3, max_steps=25, max_seconds=60.0), steps_per_epoch=10)
    assert b.total_steps == 25
    assert b.reached(24, 2, 59.0) is None
    assert b.reached(25, 2, 0.0) == "max_steps"
    assert b.reached(20, 3, 0.0) == "max_epochs"
    assert b.reached(5, 0, 60.0) == "max_seconds"
    assert b.reached(5, 0, None) is None  # steps only: the time limit is agreed elsewhere
    assert b.progress(5, 30.0) == 0.5 and b.progress(20, 1.0) == 0.8 and b.progress(99, 0.0) == 1.0
    assert b.eta(5, 30.0, 0.5) == 10.0  # 20 steps at 0.5 s before 30 s of time are left
    assert b.eta(5, 55.0, 0.5) == 5.0


def test_another_round_is_the_size_the_run_was_created_with():
    first = TrainConfig(max_steps=10, max_seconds=300.0, patience=5)
    assert another_round("max_steps", first, 20, 1, 12.0, 0).overrides == {"max_steps": 30}
    rnd = another_round("max_seconds", first, 20, 1, 301.5, 0)
    assert rnd.overrides == {"max_seconds": 601.5}
    assert formatting.another_round(rnd) == "it had used its time budget; training 5m00s more"
    assert another_round("early_stop", first, 20, 1, 12.0, 7).overrides == {"patience": 12}
    assert another_round("stopped", first, 20, 1, 12.0, 0) is None


def test_steps_per_epoch_is_what_the_batchers_yield():
    data = torch.arange(1000)
    for n in (41, 100, 999, 1000):
        for b, t in ((4, 10), (3, 7), (1, 40)):
            assert steps_per_epoch(n, b, t) == len(SequentialBatches(data[:n], b, t, seed=0))
            assert steps_per_epoch(n, b, t, "random") == len(RandomBatches(data[:n], b, t))
