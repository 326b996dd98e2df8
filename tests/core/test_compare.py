import json
import math

import pytest

from charlm_tui import formatting
from charlm_tui.core.errors import RunError
from charlm_tui.core.store.compare import compare_runs


def make_run(home, run_id, hidden, lr, evals, corpus="python-docs", world=1, status_steps=None, model=None):
    """A run folder as training leaves it; ``evals``: (step, elapsed seconds, val NLL)."""
    d = home / "runs" / run_id
    d.mkdir(parents=True)
    (d / "config.json").write_text(
        json.dumps(
            {
                "created": "2026-01-02T03:04:05+0000",
                "format_version": 1,
                "world_size": world,
                "model": {
                    "vocab_size": 6,
                    "cell": "lstm",
                    "embed_dim": 8,
                    "hidden_size": hidden,
                    "num_layers": 2,
                    "dropout": 0.1,
                    **(model or {}),
                },
                "train": {
                    "batch_size": 32,
                    "num_steps": 64,
                    "lr": lr,
                    "lr_schedule": "cosine",
                    "clip": 1.0,
                    "partition": "sequential",
                    "seed": 1337,
                },
                "corpus": {"name": corpus},
            }
        )
    )
    with open(d / "metrics.jsonl", "w") as f:
        for step, elapsed, nll in evals:
            f.write(json.dumps({"step": step, "elapsed": elapsed, "train_loss": nll + 0.1, "val_nll": nll}) + "\n")
            f.write(json.dumps({"step": step + 5, "elapsed": elapsed + 6, "train_loss": nll}) + "\n")  # no eval
        f.write('{"step": 99999, "val_n')  # a line torn by a kill: ignored
    if status_steps is not None:
        (d / "status.json").write_text(json.dumps({"status": "stopped", "steps": status_steps}))


def test_compare_sorts_best_first_and_lists_only_differing_settings(tmp_path):
    make_run(tmp_path, "small", 128, 0.003, [(100, 60, 2.0), (200, 120, 1.7), (300, 180, 1.8)], status_steps=321)
    make_run(tmp_path, "big", 256, 0.003, [(100, 90, 1.9), (200, 180, 1.5)])
    make_run(tmp_path, "fresh", 256, 0.001, [], corpus="python-code")
    cmp = compare_runs(tmp_path, ["small", "fresh", "big"])
    assert [r.id for r in cmp.runs] == ["big", "small", "fresh"]  # best val first, never evaluated last
    assert cmp.differing == ["corpus", "hidden", "lr"]
    big, small, fresh = cmp.runs
    assert big.best_val_nll == 1.5 and big.steps == 205 and big.best_minutes == 3.0
    assert big.best_val_ppl == pytest.approx(math.exp(1.5)) and big.best_val_bpc == pytest.approx(1.5 / math.log(2))
    assert small.curve == ([1.0, 2.0, 3.0], [2.0, 1.7, 1.8])  # x: training minutes at each evaluation
    assert small.best_val_nll == 1.7 and small.best_minutes == 2.0  # when the best came, not the last
    assert small.steps == 321  # as the run's status says: it trained on after its last evaluation
    assert fresh.best_val_nll is None and fresh.best_val_ppl is None and fresh.best_minutes is None
    assert fresh.curve == ([], []) and fresh.steps == 0
    assert [formatting.setting(r.settings["lr"]) for r in cmp.runs] == ["0.003", "0.003", "0.001"]
    assert formatting.setting(None) == "-" and formatting.setting(256) == "256"


def test_a_setting_an_older_run_does_not_record_compares_as_its_default_then(tmp_path):
    """Runs from before weight drop existed trained without it: alike with a run that has it off,
    unlike a run that has it on."""
    make_run(tmp_path, "old", 128, 0.003, [(100, 60, 2.0)])
    make_run(tmp_path, "off", 128, 0.003, [(100, 60, 1.9)], model={"weight_drop": 0.0})
    make_run(tmp_path, "on", 128, 0.003, [(100, 60, 1.8)], model={"weight_drop": 0.5})
    assert compare_runs(tmp_path, ["old", "off"]).differing == []
    cmp = compare_runs(tmp_path, ["old", "on"])
    assert cmp.differing == ["weight drop"] and [r.settings["weight drop"] for r in cmp.runs] == [0.5, 0.0]


def test_compare_needs_two_to_four_existing_runs(tmp_path):
    for k in range(5):
        make_run(tmp_path, f"r{k}", 64, 0.003, [(10, 6, 2.0)])
    with pytest.raises(RunError, match="compare 2 to 4 runs"):
        compare_runs(tmp_path, ["r0"])
    with pytest.raises(RunError, match="compare 2 to 4 runs"):
        compare_runs(tmp_path, [f"r{k}" for k in range(5)])
    with pytest.raises(RunError, match="no run 'gone'"):
        compare_runs(tmp_path, ["r0", "gone"])
    assert compare_runs(tmp_path, ["r0", "r1"]).differing == []
