"""Metrics elsewhere: a TensorBoard sink beside the run folder (read back with tensorboard's own
reader: every evaluation is there), runs export to CSV and TensorBoard after the fact, and a clear
message when the package is missing."""

import csv
import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from charlm_tui.cli.main import main
from charlm_tui.core.errors import ConfigError
from charlm_tui.core.store import metrics_log
from charlm_tui.core.store.run_store import open_run
from charlm_tui.core.training.jobs import new_job
from charlm_tui.core.training.trainer import TrainConfig

MODEL = {"cell": "gru", "embed_dim": 4, "hidden_size": 8, "num_layers": 1}


def scalars(folder, tag):
    acc = EventAccumulator(str(folder))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def trained(home, tiny_file, **kw):
    cfg = TrainConfig(batch_size=4, num_steps=8, eval_every=5, max_steps=20, event_interval=1e9, seed=3, **kw)
    job = new_job(home, str(tiny_file), MODEL, cfg)
    job.start()
    return open_run(home, job.run.id)


def test_the_tensorboard_sink_logs_every_evaluation(home, tiny_file):
    run = trained(home, tiny_file, tensorboard=True)
    evals = run.metrics()
    assert [m["step"] for m in evals] == [5, 10, 15, 20]
    got = scalars(run.path / "tensorboard", "loss/val")
    assert [s for s, _ in got] == [5, 10, 15, 20]
    assert [v for _, v in got] == pytest.approx([m["val_nll"] for m in evals], rel=1e-6)
    assert [s for s, _ in scalars(run.path / "tensorboard", "val/bits_per_char")] == [5, 10, 15, 20]
    assert json.loads((run.path / "config.json").read_text())["train"]["tensorboard"] is True


def test_runs_export_converts_an_existing_run(home, tiny_file, tmp_path, capsys):
    run = trained(home, tiny_file)
    assert not (run.path / "tensorboard").exists()  # not asked for while training
    evals = run.metrics()
    assert main(["runs", "export", run.id, "--format", "csv"]) == 0
    rows = list(csv.DictReader((run.path / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [m["step"] for m in evals]
    assert [float(r["val_bpc"]) for r in rows] == pytest.approx([m["val_bpc"] for m in evals])
    out = tmp_path / "tb"
    assert main(["runs", "export", run.id, "--format", "tensorboard", "--out", str(out)]) == 0
    assert "tensorboard --logdir" in capsys.readouterr().out
    assert [s for s, _ in scalars(out, "val/perplexity")] == [m["step"] for m in evals]
    assert main(["runs", "export", run.id, "--out", "/dev/full"]) == 1
    assert "not a file" in capsys.readouterr().err


def test_without_the_package_it_says_what_to_install_before_writing_anything(home, tiny_file, monkeypatch, capsys):
    def missing():
        raise ConfigError(
            "logging to TensorBoard needs the tensorboard package: pip install 'charlm-tui[tensorboard]' "
            "(or pip install tensorboard)"
        )

    import charlm_tui.core.training.jobs as jobs

    monkeypatch.setattr(jobs, "require_tensorboard", missing)
    with pytest.raises(ConfigError, match=r"charlm-tui\[tensorboard\]"):
        trained(home, tiny_file, tensorboard=True)
    assert not (home / "runs").exists() or not list((home / "runs").iterdir())
    # the real check, with the import failing
    import builtins

    real = builtins.__import__

    def no_tensorboard(name, *a, **kw):
        if name == "tensorboard" or name.startswith("tensorboard."):
            raise ImportError(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ConfigError, match="needs the tensorboard package"):
        metrics_log.require_tensorboard()


def test_train_log_to_tensorboard_says_where(home, tiny_file, capsys):
    from tests.conftest import TINY_CLI

    assert main(["train", str(tiny_file), *TINY_CLI, "--max-steps", "5", "--log-to", "tensorboard", "--quiet"]) == 0
    run = open_run(home, "latest")
    assert f"TensorBoard: tensorboard --logdir {run.path / 'tensorboard'}" in capsys.readouterr().out
    assert [s for s, _ in scalars(run.path / "tensorboard", "loss/val")] == [5]
