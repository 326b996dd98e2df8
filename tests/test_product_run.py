"""benchmarks/product_run.py: a finished run's files into the one line README's 30-minute figures
are kept as."""

import json

from benchmarks.product_run import main, summary


def _run(tmp_path):
    d = tmp_path / "run-a"
    d.mkdir(parents=True)
    (d / "config.json").write_text(
        json.dumps(
            {
                "corpus": {"name": "tiny", "chars": 1000, "sha256": "ab"},
                "model": {"hidden_size": 8},
                "train": {"lr": 0.01},
                "precision": {"used": "fp32"},
                "sizing": {"chosen": "1x64"},
            }
        )
    )
    (d / "status.json").write_text(json.dumps({"steps": 30, "epoch": 3.0, "reason": "max_seconds"}))
    rows = [
        {"step": 10, "val_nll": 2.0, "train_loss": 2.5, "chars_per_s": 100.0, "elapsed": 1.0},
        {"step": 20, "val_nll": 1.5, "train_loss": 1.8, "chars_per_s": 300.0, "elapsed": 2.0},
        {"step": 30, "val_nll": 1.6, "train_loss": 1.2, "chars_per_s": 200.0, "elapsed": 3.0},
    ]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def test_summary_takes_the_best_evaluation_and_the_median_speed(tmp_path):
    s = summary(_run(tmp_path))
    assert (s["best_val_nll"], s["best_at_step"], s["last_val_nll"]) == (1.5, 20, 1.6)
    assert s["chars_per_s_median"] == 200.0
    assert (s["steps"], s["stop"], s["precision"], s["corpus"]) == (30, "max_seconds", "fp32", "tiny")
    assert s["curve"] == [[10, 2.0, 2.5], [20, 1.5, 1.8], [30, 1.6, 1.2]]
    assert s["sizing"] == {"chosen": "1x64"}


def test_the_line_is_appended_with_the_machine_and_the_threads(tmp_path):
    out = tmp_path / "results.jsonl"
    for tag in ("fitted", "default-preset"):
        assert main([str(_run(tmp_path / tag)), "--tag", tag, "--threads", "2", "--out", str(out)]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["tag"] for x in lines] == ["fitted", "default-preset"]
    assert lines[0]["machine"]["torch_threads"] == 2 and "cpu" in lines[0]["machine"]
