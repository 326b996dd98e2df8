"""Precision: auto's measurement and decision (driven by a fake clock), its cache, bf16 training
against fp32, and exact resumption under bf16."""

import json

import pytest
import torch

from charlm_tui.core.config import ModelConfig, TrainConfig
from charlm_tui.core.errors import ConfigError
from charlm_tui.core.store.run_store import open_run
from charlm_tui.core.training import calibration as P
from charlm_tui.core.training.jobs import new_job, resume_job
from charlm_tui.core.training.precision import Precision
from charlm_tui.core.training.speed import Measured

MODEL = {"cell": "lstm", "embed_dim": 8, "hidden_size": 16, "num_layers": 2, "dropout": 0.0}
CPU = torch.device("cpu")
IDLE = lambda: 0.0  # noqa: E731  the machine's load, as measuring sees it: nothing else running


class FakeClock:
    """A step 'takes' fp32_s or bf16_s seconds of this clock."""

    def __init__(self, fp32_s: float, bf16_s: float):
        self.t, self.cost, self.calls = 0.0, {"fp32": fp32_s, "bf16": bf16_s}, []

    def __call__(self) -> float:
        return self.t

    def step(self, p: str) -> None:
        self.calls.append(p)
        self.t += self.cost[p]


@pytest.mark.parametrize(
    "fp32_s, bf16_s, want",
    [(0.010, 0.005, "bf16"), (0.010, 0.0086, "bf16"), (0.010, 0.0087, "fp32"), (0.010, 0.012, "fp32")],
)
def test_auto_picks_bf16_only_when_it_is_clearly_faster(fp32_s, bf16_s, want):
    clock = FakeClock(fp32_s, bf16_s)
    f, b = P.measure(clock.step, 1000, clock=clock, load=IDLE)
    assert f == pytest.approx(1000 / fp32_s) and b == pytest.approx(1000 / bf16_s)
    assert P.decide(f, b) == want  # the bar is 1.15x: 0.01 / 0.0086 = 1.163, 0.01 / 0.0087 = 1.149
    # a warm-up step each, then alternated rounds, neither precision always first
    assert (
        clock.calls[:2] == ["fp32", "bf16"]
        and clock.calls[2:4] == ["fp32", "bf16"]
        and clock.calls[4:6]
        == [
            "bf16",
            "fp32",
        ]
    )


def test_measuring_stays_within_its_budget_after_the_two_rounds_a_spread_needs():
    clock = FakeClock(0.2, 0.15)  # 0.35 s per pair of steps
    P.measure(clock.step, 1000, clock=clock, budget_s=1.5, load=IDLE)
    assert len(clock.calls) == 8 and clock.t <= 1.5  # warm-ups and three rounds: a fourth would end at 1.75 s
    big = FakeClock(0.4, 0.3)  # a big model: 0.7 s per pair; two rounds are the least a spread can be read from
    P.measure(big.step, 1000, clock=big, budget_s=2.0, load=IDLE)
    assert len(big.calls) == 6


class Disturbed(FakeClock):
    """bf16 steps take ``slow`` seconds while other work loads the machine: during the rounds
    listed in ``busy`` (counted over the timed bf16 steps, after the warm-up)."""

    def __init__(self, fp32_s, bf16_s, slow, busy):
        super().__init__(fp32_s, bf16_s)
        self.slow, self.busy, self.bf16_steps = slow, set(busy), -1

    def step(self, p):
        if p == "bf16":
            self.bf16_steps += 1
            if self.bf16_steps in self.busy:
                self.calls.append(p)
                self.t += self.slow
                return
        super().step(p)


def test_rounds_that_disagree_are_taken_again_and_a_calm_second_take_counts():
    clock = Disturbed(0.01, 0.005, slow=0.5, busy=[2])  # the second timed bf16 step hit other work
    m = P.measure_checked(clock.step, 1000, clock=clock, load=IDLE)
    assert not m.spoiled and m.speeds["bf16"] == pytest.approx(200_000) and m.speeds["fp32"] == pytest.approx(100_000)
    assert len(clock.calls) == 2 + 6 + 2 + 6  # warm-ups and three rounds, twice


@pytest.mark.parametrize(
    "clock",
    [
        Disturbed(0.01, 0.005, slow=0.5, busy=[2, 6]),  # both takes disturbed
        FakeClock(0.01, 0.5),  # calm rounds, but bf16 at 0.02x fp32: what a loaded AMX machine showed
    ],
)
def test_a_spoiled_measurement_decides_this_run_and_is_never_cached(home, monkeypatch, clock):
    monkeypatch.delenv(P.ENV)
    cfg = ModelConfig(vocab_size=20, **MODEL)
    m = P.measure_checked(clock.step, 1000, clock=clock, load=IDLE)
    assert m.spoiled
    got = P.resolve("auto", cfg, 4, 10, CPU, home, measure_fn=lambda: m)
    assert got.source == "spoiled" and got.used == "fp32"
    assert "(auto, measured on a busy machine: bf16 " in got.describe()  # the start line says so
    assert not (home / P.CACHE_FILE).exists()


def test_calm_rounds_taken_while_other_work_loads_the_machine_are_not_cached():
    """Everything measured on a busy machine is slow together: the spread cannot tell, the load can."""
    clock = FakeClock(0.01, 0.005)
    assert P.measure_checked(clock.step, 1000, clock=clock, load=lambda: 0.5).spoiled  # one of two CPUs busy
    assert not P.measure_checked(clock.step, 1000, clock=clock, load=lambda: 0.4).spoiled
    assert not P.measure_checked(clock.step, 1000, clock=clock, load=IDLE).spoiled


def test_auto_is_measured_once_per_machine_and_shape_then_cached(home, monkeypatch):
    monkeypatch.delenv(P.ENV)
    cfg = ModelConfig(vocab_size=20, **MODEL)
    calls = []

    def fake():
        calls.append(1)
        return Measured({"fp32": 1000.0, "bf16": 2500.0}, 1.0, False)

    a = P.resolve("auto", cfg, 4, 10, CPU, home, measure_fn=fake)
    assert (a.used, a.source, a.fp32_chars_per_s, a.bf16_chars_per_s) == ("bf16", "measured", 1000.0, 2500.0)
    b = P.resolve("auto", cfg, 4, 10, CPU, home, measure_fn=fake)
    assert (b.used, b.source) == ("bf16", "cached") and len(calls) == 1
    assert "2.50x fp32" in b.describe()
    P.resolve("auto", cfg, 8, 10, CPU, home, measure_fn=fake)  # another batch shape: measured
    assert len(calls) == 2
    (home / P.CACHE_FILE).write_text("{not json")  # damaged: measured again, and rewritten
    assert P.resolve("auto", cfg, 4, 10, CPU, home, measure_fn=fake).source == "measured"
    assert json.loads((home / P.CACHE_FILE).read_text())["version"] == P.CACHE_VERSION
    # fp32 and bf16 are taken as asked, unmeasured; the environment pins what auto means
    assert P.resolve("fp32", cfg, 4, 10, CPU, home, measure_fn=fake).used == "fp32"
    assert P.resolve("bf16", cfg, 4, 10, CPU, home, measure_fn=fake).used == "bf16"
    monkeypatch.setenv(P.ENV, "fp32")
    assert P.resolve("auto", cfg, 4, 10, CPU, home, measure_fn=fake).used == "fp32" and len(calls) == 3


def test_a_bad_precision_is_refused():
    with pytest.raises(ConfigError, match="precision must be auto, fp32 or bf16"):
        TrainConfig(precision="fp8").validate()


def train(home, tiny_file, precision, max_steps, seed=3, events=None):
    cfg = TrainConfig(
        batch_size=4,
        num_steps=10,
        eval_every=10,
        max_steps=max_steps,
        event_interval=1e9,
        seed=seed,
        precision=precision,
    )
    job = new_job(home, str(tiny_file), MODEL, cfg, callback=None if events is None else events.append)
    return job, job.start()


def test_bf16_training_learns_as_fp32_does(home, tiny_file):
    """Same seed, same 60 steps: bf16 autocast lowers the validation loss from the uniform guess
    as fp32 does, within 0.02 nats of it; the weights and evaluation stay fp32."""
    fp32_job, fp32 = train(home, tiny_file, "fp32", 60)
    events = []
    bf16_job, bf16 = train(home, tiny_file, "bf16", 60, events=events)
    start = torch.log(torch.tensor(float(bf16_job.corpus.vocab.size))).item()
    assert fp32.best_val_nll < start - 0.4 and bf16.best_val_nll < start - 0.4  # 2.77 -> 2.32 here
    assert abs(bf16.best_val_nll - fp32.best_val_nll) < 0.02  # measured: 6e-5 apart
    assert all(p.dtype == torch.float32 for p in bf16_job.trainer.model.parameters())
    recorded = open_run(home, bf16_job.run.id).config["precision"]
    assert recorded["setting"] == "bf16" and recorded["used"] == "bf16"
    start = next(e for e in events if e.kind == "start")
    assert start.precision == "bf16" and "precision bf16" in start.message


def test_a_checkpoint_saved_under_bf16_resumes_exactly_under_bf16(home, tiny_file):
    full, _ = train(home, tiny_file, "bf16", 20)
    half, _ = train(home, tiny_file, "bf16", 10)
    resumed = resume_job(home, half.run.id, {"max_steps": 20})
    assert resumed.trainer.precision.used == "bf16" and resumed.trainer.precision.source == "resumed"
    resumed.start()
    for k, v in full.trainer.model.state_dict().items():
        assert torch.equal(resumed.trainer.model.state_dict()[k], v), k
    a, b = full.run.metrics(), open_run(home, half.run.id).metrics()
    assert [m["val_nll"] for m in a] == [m["val_nll"] for m in b]


def test_a_resumed_run_keeps_its_precision_unless_asked(home, tiny_file, monkeypatch):
    monkeypatch.setenv(P.ENV, "bf16")  # auto means bf16 here when the run starts ...
    job, _ = train(home, tiny_file, "auto", 5)
    monkeypatch.setenv(P.ENV, "fp32")  # ... and would mean fp32 now: the run keeps bf16
    first = resume_job(home, job.run.id, {"max_steps": 10})
    assert first.trainer.precision.used == "bf16"
    first.run.release_lock()
    again = resume_job(home, job.run.id, {"max_steps": 15, "precision": "fp32"})
    assert again.trainer.precision.used == "fp32" and open_run(home, job.run.id).config["precision"]["used"] == "fp32"
    again.run.release_lock()


@pytest.mark.parametrize(
    "setting, source, used, steps, observed, forgotten",
    [
        ("auto", "cached", "fp32", 50, 1500.0, True),  # fp32 recorded at 1000: 1.5x -> measured on a busy machine
        ("auto", "measured", "bf16", 80, 3000.0, True),  # bf16 recorded at 2000
        ("auto", "cached", "fp32", 50, 1499.0, False),  # below REVIEW_FACTOR
        ("auto", "cached", "bf16", 50, 2999.0, False),
        ("auto", "cached", "fp32", 49, 9000.0, False),  # too few steps to say
        ("auto", "cached", "fp32", 50, None, False),
        ("auto", "cached", "fp32", 50, 100.0, False),  # slower: this run may be the busy one
        ("auto", "resumed", "fp32", 50, 9000.0, False),  # not this cache's decision
        ("auto", "$CHARLM_TUI_PRECISION", "fp32", 50, 9000.0, False),
        ("fp32", "asked", "fp32", 50, 9000.0, False),
    ],
)
def test_a_run_much_faster_than_its_calibration_makes_the_next_run_measure_again(
    home, setting, source, used, steps, observed, forgotten
):
    key, other = "m/cpu:lstm:20:8:16x2:4x10", "m/cpu:lstm:20:8:16x2:8x10"
    entry = {"used": "fp32", "fp32_chars_per_s": 1000.0, "bf16_chars_per_s": 2000.0}
    (home / P.CACHE_FILE).write_text(json.dumps({"version": P.CACHE_VERSION, "entries": {key: entry, other: entry}}))
    prec = Precision(setting, used, 1000.0, 2000.0, source)
    assert P.review(home, key, prec, steps, observed) is forgotten
    entries = json.loads((home / P.CACHE_FILE).read_text())["entries"]
    assert set(entries) == ({other} if forgotten else {key, other})  # the other shape's entry stays


@pytest.mark.parametrize("recorded, forgotten", [(10.0, True), (1e12, False)])
def test_a_trained_run_reviews_the_calibration_it_used(home, tiny_file, monkeypatch, recorded, forgotten):
    """The tiny model trains at thousands of characters per second: a calibration that recorded 10
    (a machine busy with other work) is forgotten after the run, one that recorded more stays."""
    monkeypatch.delenv(P.ENV)
    same = Measured({"fp32": recorded, "bf16": recorded}, 1.0, False)  # fp32: not 1.15x
    monkeypatch.setattr(P, "measure_checked", lambda step, chars, **kw: same)
    job, _ = train(home, tiny_file, "auto", P.REVIEW_MIN_STEPS)
    assert job.trainer.precision.source == "measured" and job.trainer.precision.used == "fp32"
    entries = json.loads((home / P.CACHE_FILE).read_text())["entries"]
    assert len(entries) == (0 if forgotten else 1)
    again, _ = train(home, tiny_file, "auto", 1)
    assert again.trainer.precision.source == ("measured" if forgotten else "cached")
