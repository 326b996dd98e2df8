"""Fit to budget: the rule with given speeds (no timing), and the measurement around it with fake
timings (which shapes are timed, what is cached, what a busy machine changes)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from charlm_tui.core import sizing
from charlm_tui.core.config import training_bytes
from charlm_tui.core.errors import ConfigError
from charlm_tui.core.sizing import CANDIDATES, Speed, choose, feasible, parse_duration
from charlm_tui.core.training import calibration, fit
from charlm_tui.core.training.speed import Measured

GIB = 1 << 30
SHAKESPEARE = 1_003_854  # tiny Shakespeare's training characters (90%)
# medians of alternated steps on the 2-core Xeon with AMX (benchmarks/sizing.py's speeds), chars/s
AMX = {
    "1x64": Speed(400_000, 420_000),
    "1x128": Speed(250_000, 300_000),
    "2x128": Speed(95_700, 121_500),
    "2x256": Speed(35_600, 69_300),
    "2x384": Speed(15_800, 34_000),
    "2x512": Speed(9_300, 21_000),
    "2x768": Speed(4_700, 9_500),
    "2x1024": Speed(2_600, 5_400),
    "2x1536": Speed(1_200, 2_500),
    "2x2048": Speed(700, 1_400),
}


def pick(budget_s, train_chars=SHAKESPEARE, speeds=None, memory=24 * GIB, precision="auto", vocab=65):
    return choose(budget_s, train_chars, vocab, speeds or AMX, memory, precision)


def test_the_rule_is_deterministic_and_says_why():
    a, b = pick(1800), pick(1800)
    assert a == b and a.candidate.name == "2x512" and a.precision == "bf16"
    assert a.reason() == (
        "2 x 512 LSTM, batch 32, dropout 0.4, weight decay 0.1: about 41 epochs of this corpus in 30 minutes "
        "at 21.0k chars/s, bf16 measured"
    )
    assert a.train_kw()["max_seconds"] == 1800 and a.train_kw()["lr"] == 2e-3
    assert a.record()["speeds"]["2x256"] == {"fp32": 35_600, "bf16": 69_300, "source": "measured"}


def test_five_minutes_on_tiny_shakespeare_is_the_tuned_default():
    """Where the five-minute sweeps tuned the default preset (2 x 256, dropout 0.1, weight decay 0.1),
    the rule lands on it."""
    c = pick(300)
    assert (c.candidate.name, c.dropout) == ("2x256", 0.1)
    assert c.model_kw() == {
        "cell": "lstm",
        "embed_dim": 64,
        "hidden_size": 256,
        "num_layers": 2,
        "dropout": 0.1,
        "weight_drop": 0.0,
    }


def test_forcing_fp32_changes_the_choice_where_the_speed_says_so():
    assert pick(1800, precision="fp32").candidate.name == "2x384"  # fp32: 2x512 trains too few characters
    assert pick(1800).candidate.name == "2x512"
    assert pick(1800, precision="fp32").precision == "fp32"


@given(st.lists(st.floats(10, 1e6), min_size=2, max_size=6), st.integers(10_000, 50_000_000))
def test_more_budget_never_gives_a_smaller_model(budgets, train_chars):
    order = [c.name for c in CANDIDATES]
    chosen = [order.index(pick(b, train_chars).candidate.name) for b in sorted(budgets)]
    assert chosen == sorted(chosen)


def test_a_small_corpus_gets_a_small_model_however_long_the_budget():
    c = pick(24 * 3600, train_chars=18_000)  # a 20 KB text, a day to train
    assert c.candidate.name == "1x64" and c.candidate.params(65) <= sizing.MAX_PARAMS_PER_CHAR * 18_000
    assert c.dropout == 0.5  # thousands of epochs


def test_the_choice_fits_the_memory():
    big = pick(10 * 24 * 3600, train_chars=500_000_000)
    assert big.candidate.name == "2x2048"
    memory = 2 * training_bytes(CANDIDATES[5].model_config(65), 32, 64)  # room for 2 x 512, not for 2 x 768
    small = pick(10 * 24 * 3600, train_chars=500_000_000, memory=memory)
    assert small.candidate.name == "2x512"
    assert training_bytes(small.candidate.model_config(65), 32, 64) <= sizing.MEMORY_SHARE * memory


def test_regularisation_follows_the_epochs_and_the_parameters_per_character():
    assert [sizing.dropout_for(e) for e in (0.5, 2, 3, 30, 31, 80, 500)] == [0.0, 0.0, 0.1, 0.1, 0.4, 0.4, 0.5]
    # a model of a parameter or more per training character gets 0.4 at least, whatever the epochs
    assert [sizing.dropout_for(e, 1.24) for e in (0.5, 14, 31, 500)] == [0.4, 0.4, 0.4, 0.5]
    assert [sizing.dropout_for(14, p) for p in (0.33, 0.87, 0.99, 1.0)] == [0.1, 0.1, 0.1, 0.4]


def test_python_code_in_30_minutes_gets_2x512_with_dropout_04_and_five_minutes_keep_the_default():
    """The measured case behind PARAMS_PER_CHAR_HEAVY: python-code's 2.7M training characters,
    this machine's bf16 speeds (2 x 256 69.3k, 2 x 384 34k, 2 x 512 21k, 2 x 768 9.5k chars/s)."""
    speeds = {
        n: sizing.Speed(bf16=v, fp32=v / 2, source="measured")
        for n, v in (("2x256", 69_300.0), ("2x384", 34_000.0), ("2x512", 21_000.0), ("2x768", 9_500.0))
    }
    half_hour = sizing.choose(1800, 2_699_956, 102, speeds, 1 << 34)
    assert (half_hour.candidate.name, half_hour.dropout) == ("2x512", 0.4)
    five = sizing.choose(300, 2_699_956, 102, speeds, 1 << 34)
    assert (five.candidate.name, five.dropout) == ("2x256", 0.1)  # the default preset's model and dropout


def test_evaluations_take_at_most_a_tenth_of_the_budget():
    """A 12 MB corpus's evaluations read 1M characters each: 15 of them took a fifth of a
    30-minute run. The rule pays for as many as a tenth of the budget allows (at least 5)."""
    big = replace(pick(1800, train_chars=10_665_028, vocab=223), eval_chars=1_000_000)
    assert big.candidate.name == "2x512" and big.chars_per_s == 21_000
    # one evaluation: 1M / (21k x 1.7) = 28.0 s; a tenth of 1,800 s pays for 6
    assert big.evaluations == 6
    assert big.train_kw()["eval_every"] == round(big.steps / 6, -2) == 3400
    shakespeare = replace(pick(1800), eval_chars=111_539)  # 3.1 s each: the usual 25
    assert shakespeare.evaluations == 25 and shakespeare.train_kw()["eval_every"] == 800
    assert pick(1800).evaluations == 25  # the split not known: 25
    assert replace(pick(60), eval_chars=1_000_000).evaluations == 5  # never fewer than 5
    assert fit.fit_to_budget(1800, 65, SHAKESPEARE, "fp32", "cpu", None, val_chars=5_000_000).eval_chars == 1_000_000


@pytest.mark.parametrize(
    "text, seconds", [("90s", 90), ("30m", 1800), ("2h", 7200), ("1.5h", 5400), ("45", 2700), (" 10 min ", 600)]
)
def test_a_budget_reads_as_a_person_writes_it(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5m", "0s", "2 weeks", "400d", "1e9h"])
def test_a_budget_that_is_not_one_is_refused(text):
    with pytest.raises(ConfigError, match="budget"):
        parse_duration(text)


# ---------------------------------------------------------------- measuring (fake timings)


class FakeMeasure:
    """Times shapes by the table above (the AMX machine), records what it was asked to time."""

    def __init__(self, table=AMX, spoil=()):
        self.table, self.spoil, self.calls, self.precisions = table, set(spoil), [], []

    def __call__(self, cfgs, precisions):
        names = [f"{c.num_layers}x{c.hidden_size}" for c in cfgs]
        self.calls.append(names)
        self.precisions.append(tuple(precisions))
        out = {}
        for n in names:
            sp = self.table[n]
            speeds = {p: getattr(sp, p) for p in precisions}
            out[n] = Measured(speeds, 1.0, n in self.spoil)
        return out


@pytest.fixture
def measured(monkeypatch):
    monkeypatch.delenv(fit.ENV)
    monkeypatch.delenv(calibration.ENV)


def test_a_cold_fit_times_a_few_shapes_together_and_a_warm_one_times_nothing(home, measured):
    m = FakeMeasure()
    c = fit.fit_to_budget(1800, 65, SHAKESPEARE, "auto", "cpu", home, measure=m)
    assert c.candidate.name == "2x512"
    # the estimate's choice and its neighbours: the smallest in both arithmetics, then (bf16 being
    # clearly faster) the others together in bf16 alone; nothing past 2 x 512 suits a 1 MB corpus
    assert m.calls == [["2x256"], ["2x384", "2x512"]] and m.precisions == [("fp32", "bf16"), ("bf16",)]
    m2 = FakeMeasure()
    big = fit.fit_to_budget(7200, 65, 10 * SHAKESPEARE, "auto", "cpu", home / "other", measure=m2)
    assert big.candidate.name == "2x768" and m2.calls[-1] == ["2x1024"]  # the largest timed passed: one more
    again = FakeMeasure()
    c2 = fit.fit_to_budget(1800, 65, SHAKESPEARE, "auto", "cpu", home, measure=again)
    assert again.calls == [] and c2.candidate == c.candidate
    assert c2.speeds["2x512"].source == "cached" and "measured earlier" in c2.reason()
    # the run trains in what the timing found (no second calibration), and a shape timed in both
    # arithmetics settles auto precision for a fixed preset of that shape too
    prec = fit.precision_of(c2, "auto", torch.device("cpu"))
    assert prec is not None and (prec.used, prec.source, prec.bf16_chars_per_s) == ("bf16", "cached", 21_000)
    both = calibration.resolve("auto", CANDIDATES[3].model_config(65), 32, 64, torch.device("cpu"), home)
    assert both.source == "cached" and both.used == "bf16"


def test_a_spoiled_measurement_decides_now_and_is_not_cached(home, measured):
    m = FakeMeasure(spoil={"2x512", "2x384", "2x256", "2x768"})
    c = fit.fit_to_budget(1800, 65, SHAKESPEARE, "auto", "cpu", home, measure=m)
    assert c.speeds[c.candidate.name].source == "spoiled" and "busy machine" in c.reason()
    prec = fit.precision_of(c, "auto", torch.device("cpu"))
    assert prec is not None and prec.source == "spoiled" and "measured on a busy machine" in prec.describe()
    entries = calibration.read_entries(home)
    assert all("2x512" not in k and "2x384" not in k for k in entries)


def test_the_cache_is_forgotten_as_the_precision_cache_is(home, measured):
    """A run that trains 1.5x faster than the speed recorded for its shape drops the entry
    (calibration.review): the next fit times that shape again."""
    fit.fit_to_budget(300, 65, SHAKESPEARE, "auto", "cpu", home, measure=FakeMeasure())
    cfg = CANDIDATES[3].model_config(65)  # 2 x 256, the choice
    key = calibration.cache_key(cfg, 32, 64, torch.device("cpu"))
    prec = calibration.resolve("auto", cfg, 32, 64, torch.device("cpu"), home)
    assert calibration.review(home, key, prec, 100, 2.0 * 69_300)
    m = FakeMeasure()
    fit.fit_to_budget(300, 65, SHAKESPEARE, "auto", "cpu", home, measure=m)
    assert [n for x in m.calls for n in x] == ["2x256"]


def test_forced_fp32_times_fp32_only(home, measured):
    m = FakeMeasure()
    seen = []

    def spy(cfgs, precisions):
        seen.append(precisions)
        return m(cfgs, precisions)

    c = fit.fit_to_budget(1800, 65, SHAKESPEARE, "fp32", "cpu", home, measure=spy)
    assert set(seen) == {("fp32",)} and c.precision == "fp32" and c.candidate.name == "2x384"


def test_assumed_speeds_replace_the_measurement(home, monkeypatch):
    monkeypatch.setenv(fit.ENV, "flops:1.6e11")
    c = fit.fit_to_budget(300, 65, SHAKESPEARE, "auto", "cpu", home, measure=lambda *a: pytest.fail("timed"))
    assert c.speeds[c.candidate.name].source == "assumed" and "assumed, not measured" in c.reason()
    assert not (home / calibration.CACHE_FILE).exists()
    monkeypatch.setenv(fit.ENV, "fast")
    with pytest.raises(ConfigError, match="CHARLM_TUI_SPEEDS"):
        fit.fit_to_budget(300, 65, SHAKESPEARE, "auto", "cpu", home)


def test_the_cache_file_holds_what_a_person_can_read(home, measured):
    fit.fit_to_budget(300, 65, SHAKESPEARE, "auto", "cpu", home, measure=FakeMeasure())
    data = json.loads((home / calibration.CACHE_FILE).read_text())
    assert all(set(v) >= {"fp32_chars_per_s", "bf16_chars_per_s"} for v in data["entries"].values())


def test_feasible_keeps_the_smallest_shape_for_any_corpus():
    assert [c.name for c in feasible(65, 10, 1 << 20)] == ["1x64"]


def test_the_share_of_time_evaluations_take_and_what_brings_it_to_a_tenth():
    """The default preset on the 12 MB corpus: 1M validation characters every 400 steps of
    32 x 64 took 42% of its 30 minutes (README). The machine's speed cancels out."""
    assert sizing.evaluation_share(1_000_000, 400, 2048) == pytest.approx(0.418, abs=5e-4)
    # 1M / 1.7 x 9 / 2048 = 2,585.2 steps -> 2,586, typed as 2,600
    assert sizing.interval_for_share(1_000_000, 2048) == 2600
    assert sizing.evaluation_share(1_000_000, 2600, 2048) < 0.1
    assert sizing.interval_for_share(10_000, 2048) == 26  # 25.85 -> 26: two digits stay as they are
    assert (
        sizing.evaluation_note(1_185_003, 400, 32, 64, steps_per_epoch=5_200)  # 1M of the split read
        == "evaluating takes ≈42% of the time: eval every 2,600 makes it 10%"
    )
    # tiny Shakespeare's split with the default preset: 7%, nothing to say
    assert sizing.evaluation_share(111_539, 400, 2048) == pytest.approx(0.0741, abs=5e-4)
    assert sizing.evaluation_note(111_539, 400, 32, 64, steps_per_epoch=490) is None
    # where once per epoch already needs more than that (a large val fraction), the fraction is the fix
    assert (
        sizing.evaluation_note(500_000, 100, 32, 64, steps_per_epoch=120)
        == "evaluating takes ≈59% of the time: a smaller val fraction makes it less"
    )
    assert sizing.evaluation_share(0, 400, 2048) == sizing.evaluation_share(1000, 0, 2048) == 0.0
    # at least once per epoch: every 1,000 steps of a 120-step epoch is every 120
    assert sizing.eval_interval(1_000, 120) == 120
    assert sizing.evaluation_note(500_000, 1_000, 32, 64, 120) == sizing.evaluation_note(500_000, 120, 32, 64, 120)


def test_a_corpus_too_short_for_one_batch_gets_a_batch_it_holds():
    """A 2 KB corpus failed at the start under fit to budget: 32 x 64 needs 2,049 training chars."""
    assert sizing.batch_shape(1_003_854) == (32, 64)
    assert sizing.batch_shape(2_049) == (32, 64)
    assert sizing.batch_shape(2_048) == (31, 64)
    assert sizing.batch_shape(1_728) == (26, 64)
    assert sizing.batch_shape(65) == (1, 64)
    assert sizing.batch_shape(64) == (1, 63)
    small = pick(300, train_chars=1_728)
    assert (small.train_kw()["batch_size"], small.train_kw()["num_steps"]) == (26, 64)
    assert ", batch 26," in small.reason() and small.steps == int(small.chars // (26 * 64))


@given(st.integers(min_value=2, max_value=10_000))
def test_the_batch_shape_always_fits_the_training_text(n):
    from charlm_tui.core.data.batching import min_chars

    b, t = sizing.batch_shape(n)
    assert b >= 1 and t >= 1 and min_chars(b, t) <= n
