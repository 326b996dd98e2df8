import math
import threading

import pytest
import torch

from charlm_tui.core.data.batching import SequentialBatches, split_train_val
from charlm_tui.core.data.corpus import corpus_from_text
from charlm_tui.core.errors import ConfigError
from charlm_tui.core.model.charlm import CharLM
from charlm_tui.core.training import trainer as training
from charlm_tui.core.training.trainer import TrainConfig, Trainer, evaluate, token_loss

TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 40


def make(cfg: TrainConfig, cell="lstm", hidden=16, layers=1, dropout=0.0, text=TEXT, events=None):
    c = corpus_from_text(text)
    train, val = split_train_val(c.ids, cfg.val_fraction)
    torch.manual_seed(cfg.seed)
    model = CharLM(c.vocab.size, 8, hidden, layers, dropout, cell)
    cb = events.append if events is not None else None
    return Trainer(model, train, val, cfg, "cpu", callback=cb), c


def test_token_loss_is_mean_over_every_predicted_char():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5)
    y = torch.randint(0, 5, (2, 3))
    lp = torch.log_softmax(logits, -1)
    hand = -sum(lp[b, t, y[b, t]] for b in range(2) for t in range(3)) / 6
    assert token_loss(logits, y).item() == pytest.approx(hand.item(), abs=1e-6)
    assert token_loss(logits, y, "sum").item() == pytest.approx(6 * hand.item(), abs=1e-5)


def test_uniform_model_perplexity_equals_vocab_size():
    c = corpus_from_text(TEXT)
    m = CharLM(c.vocab.size, 4, 8, 1, 0.0, "gru")
    with torch.no_grad():
        m.head.weight.zero_()
        m.head.bias.zero_()
    res = evaluate(m, c.ids, 4, 10)
    assert res.ppl == pytest.approx(c.vocab.size, rel=1e-6)  # float32 log-softmax
    assert res.bpc == pytest.approx(math.log2(c.vocab.size), rel=1e-6)


def test_evaluate_is_exact_mean_nll_with_state_carried():
    torch.manual_seed(1)
    c = corpus_from_text(TEXT)
    m = CharLM(c.vocab.size, 4, 8, 1, 0.0, "lstm").eval()
    data = c.ids[:401]
    res = evaluate(m, data, 4, 7)
    # by hand: each of the 4 streams in one forward pass (state carried = no truncation in eval)
    sb = SequentialBatches(data, 4, 7)
    with torch.no_grad():
        logits, _ = m(sb.x.long())
    hand = token_loss(logits, sb.y.long()).item()
    assert res.tokens == 400
    assert res.nll == pytest.approx(hand, abs=1e-6)


def test_train_loss_is_averaged_per_token_across_uneven_batches():
    # lr so small the weights do not move: the reported loss must equal the hand-computed
    # per-token mean over 3 batches of 10, 10 and 3 steps (not the mean of the 3 batch means)
    events = []
    cfg = TrainConfig(
        batch_size=2, num_steps=10, lr=1e-30, eval_every=3, max_steps=3, event_interval=1e9, val_fraction=0.5
    )
    tr, c = make(cfg, text=TEXT[:114], events=events)  # 57 training characters: 9 kept for the epoch offsets
    ref = CharLM.from_config(tr.model.config)
    ref.load_state_dict(tr.model.state_dict())
    sb = tr.batches
    assert [sb.batch(0, k).x.shape[1] for k in range(len(sb))] == [10, 10, 3]
    with torch.no_grad():
        logits, _ = ref(sb.x.long())
    hand = token_loss(logits, sb.y.long()).item()
    tr.run()
    ev = [e for e in events if e.kind == "eval"][0]
    batch_means = [token_loss(logits[:, i:j], sb.y[:, i:j].long()).item() for i, j in ((0, 10), (10, 20), (20, 23))]
    assert ev.train_loss == pytest.approx(hand, abs=1e-6)
    assert abs(sum(batch_means) / 3 - hand) > 1e-3  # the two averages really differ here


def test_sequential_carries_detached_state_random_resets_it():
    cfg = TrainConfig(batch_size=2, num_steps=5, max_steps=1, eval_every=100)
    tr, _ = make(cfg, cell="gru")
    ref = CharLM.from_config(tr.model.config)
    ref.load_state_dict(tr.model.state_dict())
    b0 = tr.batches.batch(0, 0)
    with torch.no_grad():
        _, h = ref(b0.x)
    acc = torch.zeros((), dtype=torch.float64)
    tr._train_step(acc)
    assert tr.hidden is not None and tr.hidden.grad_fn is None and not tr.hidden.requires_grad
    assert torch.allclose(tr.hidden, h, atol=1e-6)

    tr2, _ = make(TrainConfig(batch_size=2, num_steps=5, partition="random", max_steps=1), cell="gru")
    tr2._train_step(torch.zeros((), dtype=torch.float64))
    assert tr2.hidden is None


def test_clip_bounds_gradient_norm():
    cfg = TrainConfig(batch_size=4, num_steps=8, clip=0.01, max_steps=1)
    tr, _ = make(cfg)
    tr._train_step(torch.zeros((), dtype=torch.float64))
    norm = torch.sqrt(sum((p.grad**2).sum() for p in tr.model.parameters() if p.grad is not None))
    assert norm.item() <= 0.01 * (1 + 1e-4)


def test_early_stopping_and_lr_plateau_react_as_configured(monkeypatch):
    script = iter([2.0, 1.5, 1.6, 1.7, 1.8, 1.9])
    monkeypatch.setattr(training, "evaluate", lambda *a, **k: training.EvalResult(next(script), 100))
    events = []
    cfg = TrainConfig(
        batch_size=2,
        num_steps=5,
        eval_every=2,
        patience=3,
        lr_patience=1,
        lr_factor=0.5,
        lr=0.01,
        max_steps=1000,
        event_interval=1e9,
    )
    tr, _ = make(cfg, events=events)
    final = tr.run()
    evals = [e for e in events if e.kind == "eval"]
    assert [e.step for e in evals] == [2, 4, 6, 8, 10]
    assert [e.patience_left for e in evals] == [3, 3, 2, 1, 0]
    cuts = [e for e in events if e.kind == "lr_reduced"]
    assert [e.step for e in cuts] == [8]  # second evaluation without improvement > lr_patience 1
    assert evals[3].lr == pytest.approx(0.005)
    # the evaluation that cut it says so too (in the metrics file, for a process that follows the run)
    assert [e.lr_cut_from for e in evals] == [None, None, None, pytest.approx(0.01), None]
    assert final.reason == "early_stop" and final.step == 10
    assert final.best_val_nll == pytest.approx(1.5)
    assert final.best_val_ppl == pytest.approx(math.exp(1.5))


def test_stop_is_honoured_within_one_step():
    events = []
    cfg = TrainConfig(batch_size=2, num_steps=5, eval_every=1000, event_interval=0.0)
    tr, _ = make(cfg, events=events)

    def cb(ev):
        events.append(ev)
        if ev.kind == "progress" and ev.step == 3:
            tr.request_stop()

    tr.sinks[:] = [training.CallbackSink(cb)]  # instead of the plain events.append
    final = tr.run()
    assert final.reason == "stopped" and final.step == 3


def test_pause_then_resume():
    events = []
    cfg = TrainConfig(batch_size=2, num_steps=5, eval_every=1000, event_interval=0.0, max_steps=6)
    tr, _ = make(cfg, events=events)

    def cb(ev):
        events.append(ev)
        if ev.kind == "progress" and ev.step == 2:
            tr.pause()
            threading.Timer(0.2, tr.resume).start()

    tr.sinks[:] = [training.CallbackSink(cb)]  # instead of the plain events.append
    final = tr.run()
    kinds = [(e.kind, e.step) for e in events if e.kind in ("paused", "resumed")]
    assert kinds == [("paused", 2), ("resumed", 2)]
    assert final.step == 6 and final.reason == "max_steps"


def test_nan_loss_stops_with_reason_and_keeps_best_weights():
    events = []
    cfg = TrainConfig(batch_size=2, num_steps=5, eval_every=2, event_interval=0.0, max_steps=50)
    tr, _ = make(cfg, events=events)

    def cb(ev):
        events.append(ev)
        if ev.kind == "progress" and ev.step == 5:
            with torch.no_grad():
                tr.model.head.bias.fill_(float("nan"))

    tr.sinks[:] = [training.CallbackSink(cb)]  # instead of the plain events.append
    final = tr.run()
    assert final.reason == "nan" and "NaN" in final.message
    assert final.step <= 7
    assert all(torch.isfinite(p).all() for p in tr.model.parameters())
    assert all(torch.equal(v, tr.best_weights()[k]) for k, v in tr.model.state_dict().items())


def test_seeded_runs_are_reproducible():
    def losses():
        ev = []
        cfg = TrainConfig(batch_size=4, num_steps=8, eval_every=5, max_steps=15, event_interval=1e9, seed=7)
        tr, _ = make(cfg, dropout=0.3, layers=2, events=ev)
        tr.run()
        return [(e.train_loss, e.val_nll) for e in ev if e.kind == "eval"]

    a, b = losses(), losses()
    assert len(a) == 3 and a == b


def test_progress_events_are_throttled_evals_are_not():
    ev = []
    cfg = TrainConfig(batch_size=2, num_steps=5, eval_every=5, max_steps=20, event_interval=1e9)
    tr, _ = make(cfg, events=ev)
    tr.run()
    kinds = [e.kind for e in ev]
    assert kinds.count("progress") == 0 and kinds.count("eval") == 4


def test_tiny_model_overfits_tiny_repeated_text():
    cfg = TrainConfig(
        batch_size=8, num_steps=24, lr=1e-2, eval_every=50, max_steps=300, patience=100, event_interval=1e9
    )
    tr, _ = make(cfg, hidden=64, cell="lstm", text="hello world\n" * 300)
    final = tr.run()
    assert final.best_val_ppl < 1.05


def test_cosine_schedule_warms_up_decays_to_the_budget_and_keeps_plateau_cuts(monkeypatch):
    script = iter([2.0, 1.5, 1.4, 1.45, 1.46, 1.3, 1.2, 1.1, 1.0, 0.9])
    monkeypatch.setattr(training, "evaluate", lambda *a, **k: training.EvalResult(next(script), 100))
    events = []
    cfg = TrainConfig(
        batch_size=2,
        num_steps=5,
        eval_every=2,
        patience=10,
        lr_patience=1,
        lr_factor=0.5,
        lr=0.01,
        max_steps=20,
        event_interval=1e9,
        lr_schedule="cosine",
        warmup_steps=4,
    )
    tr, _ = make(cfg, events=events)
    final = tr.run()

    def expected(step_before: int, scale: float) -> float:  # the LR set before the step at index step_before
        if step_before < 4:
            return 0.01 * scale * (step_before + 1) / 4
        cos = 0.5 * (1 + math.cos(math.pi * step_before / 20))
        return 0.01 * scale * (training.COSINE_FLOOR + (1 - training.COSINE_FLOOR) * cos)

    lrs = {e.step: e.lr for e in events if e.kind == "eval"}
    assert lrs[2] == pytest.approx(0.005) and lrs[4] == pytest.approx(0.01)
    assert lrs[6] == pytest.approx(expected(5, 1.0)) and lrs[8] == pytest.approx(expected(7, 1.0))
    cuts = [e for e in events if e.kind == "lr_reduced"]
    assert [e.step for e in cuts] == [10]  # two evaluations without improvement
    assert lrs[10] == pytest.approx(expected(9, 1.0) * 0.5)
    assert tr.progress.lr_scale == pytest.approx(0.5)
    assert lrs[12] == pytest.approx(expected(11, 0.5)) and lrs[20] == pytest.approx(expected(19, 0.5))
    assert final.reason == "max_steps" and final.step == 20
    assert expected(19, 1.0) < 0.01 * 0.03  # it ends near the floor


def test_cosine_needs_no_finite_limit_but_uses_every_one_given():
    cfg = TrainConfig(batch_size=2, num_steps=5, lr_schedule="cosine", max_epochs=3, max_seconds=100.0)
    tr, _ = make(cfg)
    total = tr.budget.total_steps
    assert total == 3 * tr.steps_per_epoch
    tr.progress.step, tr.progress.elapsed = total // 4, 80.0
    assert tr.budget_progress() == pytest.approx(0.8)  # time is further along than steps
    tr.progress.elapsed = 1.0
    assert tr.budget_progress() == pytest.approx(tr.progress.step / total)


def test_bad_schedule_is_refused():
    with pytest.raises(Exception, match="LR schedule must be plateau or cosine"):
        TrainConfig(lr_schedule="linear").validate()


def test_evaluates_at_least_once_per_epoch_whatever_the_interval():
    events = []
    tr, _ = make(TrainConfig(batch_size=2, num_steps=5, eval_every=10_000, max_epochs=3), events=events)
    spe = tr.steps_per_epoch
    assert 1 < spe < 10_000 and tr.eval_interval == spe
    tr.run()
    assert [e.step for e in events if e.kind == "eval"] == [spe, 2 * spe, 3 * spe]
    short, _ = make(TrainConfig(batch_size=2, num_steps=5, eval_every=2, max_steps=6))
    assert short.eval_interval == 2  # a shorter interval stands


def test_events_say_how_far_through_its_limits_the_run_is():
    events = []
    tr, _ = make(TrainConfig(batch_size=2, num_steps=5, eval_every=5, max_steps=10), events=events)
    tr.run()
    evals = [(e.step, e.budget, e.time_budget) for e in events if e.kind == "eval"]
    assert evals == [(5, 0.5, None), (10, 1.0, None)]
    events.clear()
    tr, _ = make(TrainConfig(batch_size=2, num_steps=5, eval_every=5, max_steps=10, max_seconds=1000.0), events=events)
    tr.run()
    assert [(e.budget, e.time_budget) for e in events if e.kind == "eval"] == [(0.5, 1000.0), (1.0, 1000.0)]


def test_the_weight_average_is_what_evaluations_see_and_resumes_exactly(home, tiny_file):
    """ema > 0: evaluations and the best checkpoint use the moving average of the weights; training
    goes on from the trained weights; a resumed run carries the average on exactly."""
    from charlm_tui.core.store.run_store import open_run
    from charlm_tui.core.training.jobs import new_job, resume_job

    model = {"cell": "gru", "embed_dim": 8, "hidden_size": 16, "num_layers": 1, "dropout": 0.0}

    def cfg(steps):
        return TrainConfig(
            batch_size=4, num_steps=10, eval_every=5, max_steps=steps, event_interval=1e9, seed=3, ema=0.9
        )

    full = new_job(home, str(tiny_file), model, cfg(20))
    full.start()
    tr = full.trainer
    trained = [p.detach().clone() for p in tr.model.parameters()]
    assert not all(torch.equal(a, e) for a, e in zip(trained, tr.ema))  # an average, not the weights
    best, _ = open_run(home, full.run.id).load_model("best")
    with torch.inference_mode():
        res = evaluate(best, tr.val_ids, 4, 10)
    assert res.nll == pytest.approx(tr.progress.best_nll, abs=1e-6)  # the best checkpoint is what was evaluated
    half = new_job(home, str(tiny_file), model, cfg(10))
    half.start()
    resumed = resume_job(home, half.run.id, {"max_steps": 20})
    resumed.start()
    for a, b in zip(resumed.trainer.ema, tr.ema):
        assert torch.equal(a, b)
    for a, b in zip(resumed.trainer.model.parameters(), trained):
        assert torch.equal(a, b)


def test_weight_decay_is_adamw_decoupled_decay_on_every_weight():
    cfg = TrainConfig(batch_size=2, num_steps=5, lr=1e-2, clip=1e9, weight_decay=0.1, max_steps=3, eval_every=100)
    tr, _ = make(cfg)
    ref = CharLM.from_config(tr.model.config)
    ref.load_state_dict(tr.model.state_dict())
    opt = torch.optim.AdamW(ref.parameters(), lr=1e-2, weight_decay=0.1)
    state = None
    for k in range(3):  # the same three batches by hand, with torch's own AdamW
        b = tr.batches.batch(0, k)
        logits, state = ref(b.x, CharLM.detach_state(state))
        opt.zero_grad()
        token_loss(logits, b.y).backward()
        opt.step()
    acc = torch.zeros((), dtype=torch.float64)
    for _ in range(3):
        tr._train_step(acc)
    for (name, p), q in zip(tr.model.named_parameters(), ref.parameters()):
        assert torch.allclose(p, q, atol=1e-6), name
    # and it is not a no-op: without decay the weights end elsewhere
    plain, _ = make(TrainConfig(batch_size=2, num_steps=5, lr=1e-2, clip=1e9, max_steps=3, eval_every=100))
    for _ in range(3):
        plain._train_step(acc)
    assert not torch.allclose(plain.model.head.weight, tr.model.head.weight, atol=1e-5)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_a_bad_weight_decay_is_refused(bad):
    with pytest.raises(ConfigError, match="weight decay must be"):
        TrainConfig(weight_decay=bad).validate()


class _TickClock:
    """A clock that moves one second every time it is read."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        self.t += 1.0
        return self.t


class _PollSink:
    """A run folder stand-in: counts polls made while an evaluation runs and can stop the run there."""

    def __init__(self, stop_after: int | None = None):
        self.polls_in_eval = 0
        self.stop_after = stop_after
        self.events: list = []

    def on_event(self, ev):
        self.events.append(ev)

    def save_best(self, trainer):
        pass

    def save_last(self, trainer):
        pass

    def poll(self, trainer):
        if trainer.model.training:
            return
        self.polls_in_eval += 1  # the model is in eval mode only inside an evaluation
        if self.stop_after is not None and self.polls_in_eval >= self.stop_after:
            trainer.request_stop("terminated")


def _long_val_trainer(cfg, sink, clock):
    """A tiny model whose validation split is long (hundreds of evaluation batches)."""
    c = corpus_from_text(TEXT * 5)
    train, val = split_train_val(c.ids, 0.5)
    torch.manual_seed(0)
    return Trainer(CharLM(c.vocab.size, 4, 8, 1, 0.0, "gru"), train, val, cfg, "cpu", sink=sink, clock=clock)


def test_a_stop_request_during_an_evaluation_is_obeyed_there_with_the_heartbeat_kept():
    """SIGTERM during a long evaluation waited for it to end (9+ minutes on a 10 MB one-line
    corpus) and the run had no heartbeat meanwhile: the evaluation polls the sink and leaves."""
    sink = _PollSink(stop_after=3)
    t = _long_val_trainer(
        TrainConfig(batch_size=2, num_steps=4, eval_every=2, max_steps=50, seed=1), sink, _TickClock()
    )
    done = t.run()
    assert done.reason == "terminated" and t.progress.step == 2  # the first evaluation was left part-way
    assert sink.polls_in_eval == 3
    assert not any(e.kind == "eval" for e in sink.events)  # nothing half-measured is recorded
    assert t.model.training  # the model's mode is put back
    says = [e.message for e in sink.events if e.kind == "evaluating"]
    assert says and says[0].startswith("evaluating on ") and says[0].endswith("%")


def test_an_evaluation_the_time_budget_runs_out_in_is_the_final_one():
    """It evaluates the weights the run ends with: leaving it (as before) left a 30-minute run on a
    12 MB corpus with its last 900 steps neither evaluated nor kept as the best."""
    sink = _PollSink()
    cfg = TrainConfig(batch_size=2, num_steps=4, eval_every=2, max_steps=50, max_seconds=20, seed=1)
    t = _long_val_trainer(cfg, sink, _TickClock())
    done = t.run()
    assert done.reason == "max_seconds"
    evals = [e for e in sink.events if e.kind == "eval"]
    assert [e.step for e in evals] == [2] and t.progress.step == 2  # no step after it, no second one
    assert sink.polls_in_eval > 3  # it went on polling past the limit (heartbeat kept)
    assert t.progress.elapsed > 20


def test_a_stop_request_still_leaves_an_evaluation_past_the_time_budget():
    sink = _PollSink(stop_after=30)
    cfg = TrainConfig(batch_size=2, num_steps=4, eval_every=2, max_steps=50, max_seconds=20, seed=1)
    t = _long_val_trainer(cfg, sink, _TickClock())
    done = t.run()
    assert done.reason == "terminated" and sink.polls_in_eval == 30
    assert not any(e.kind == "eval" for e in sink.events)


def test_evaluations_read_at_most_max_eval_chars_and_the_start_line_says_so(monkeypatch):
    monkeypatch.setattr(training, "MAX_EVAL_CHARS", 300)
    events: list = []
    t, _ = make(
        TrainConfig(batch_size=4, num_steps=8, eval_every=5, max_steps=5, val_fraction=0.5, seed=1), events=events
    )
    assert len(t.val_ids) == 300 and t.val_chars > 300
    t.run()
    start = next(e for e in events if e.kind == "start")
    assert f"evaluations read the first 300 of {t.val_chars:,} validation chars" in start.message
    # 300 chars / 1.7 every 5 steps of 32: 52% of the time; a tenth would need every 50 steps, past
    # the 30 of an epoch (evaluated at least once each), so the line names the val fraction
    assert start.message.endswith("; evaluating takes ≈52% of the time: a smaller val fraction makes it less")


def test_a_run_whose_evaluations_cost_little_says_nothing_of_them():
    events: list = []
    t, _ = make(TrainConfig(batch_size=4, num_steps=8, eval_every=50, max_steps=2, seed=1), events=events)
    t.run()
    start = next(e for e in events if e.kind == "start")
    assert "evaluating" not in start.message and len(t.val_ids) / 1.7 < 0.25 * 50 * 32
