import json
import os
import pickle
import struct
from pathlib import Path

import pytest
import torch

from charlm_tui import formatting
from charlm_tui.core.config import ModelConfig
from charlm_tui.core.errors import CheckpointError, RunError
from charlm_tui.core.store import checkpoint
from charlm_tui.core.store.run_store import RunInfo, delete_run, list_runs, open_run, rename_run
from charlm_tui.core.training.jobs import new_job, resume_job
from charlm_tui.core.training.trainer import TrainConfig

MODEL = {"cell": "lstm", "embed_dim": 8, "hidden_size": 16, "num_layers": 2, "dropout": 0.2}


def train_run(home, tiny_file, max_steps, **kw):
    cfg = TrainConfig(batch_size=4, num_steps=10, eval_every=5, max_steps=max_steps, event_interval=1e9, seed=3, **kw)
    job = new_job(home, str(tiny_file), MODEL, cfg)
    final = job.start()
    return job, final


def test_run_folder_round_trip(home, tiny_file):
    job, final = train_run(home, tiny_file, 10)
    p = job.run.path
    assert p.parent == home / "runs"
    assert {"config.json", "vocab.json", "metrics.jsonl", "status.json", "best.safetensors", "last.safetensors"} <= {
        f.name for f in p.iterdir()
    }
    assert not (p / "lock").exists()
    run = open_run(home, job.run.id)
    cfg = run.config
    assert (
        cfg["model"] == ModelConfig(vocab_size=job.corpus.vocab.size, **MODEL).to_json()
    )  # every setting, defaults too
    assert cfg["corpus"]["sha256"] == job.corpus.sha256 and cfg["corpus"]["chars"] == job.corpus.stats.chars
    assert cfg["train"]["seed"] == 3 and "torch" in cfg["versions"]
    assert run.vocab() == job.corpus.vocab
    assert [m["step"] for m in run.metrics()] == [5, 10]
    st = run.status()
    assert st["status"] == "finished" and st["reason"] == "max_steps" and st["steps"] == 10
    assert st["best_val_ppl"] == pytest.approx(final.best_val_ppl)
    model, vocab = run.load_model("best")
    assert vocab == job.corpus.vocab
    last, _ = run.load_model("last")
    for k, v in job.trainer.model.state_dict().items():
        assert torch.equal(last.state_dict()[k], v)
    [info] = list_runs(home)
    assert info.id == job.run.id and info.status == "finished" and info.steps == 10 and info.damaged is None
    assert info.cell == "lstm" and info.size == "2x16"


@pytest.mark.parametrize("partition", ["sequential", "random"])
def test_resume_matches_an_uninterrupted_run(home, tiny_file, partition):
    full, _ = train_run(home, tiny_file, 20, partition=partition)
    half, _ = train_run(home, tiny_file, 10, partition=partition)
    resumed = resume_job(home, half.run.id, {"max_steps": 20})
    assert resumed.trainer.progress.step == 10
    final = resumed.start()
    assert final.step == 20
    a, b = full.run.metrics(), open_run(home, half.run.id).metrics()
    assert [m["step"] for m in b] == [5, 10, 15, 20]  # history appended, not restarted
    for x, y in zip(a, b):
        assert x["val_nll"] == pytest.approx(y["val_nll"], abs=1e-6)
        assert x["train_loss"] == pytest.approx(y["train_loss"], abs=1e-6)
        assert x["lr"] == y["lr"]
    for k, v in full.trainer.model.state_dict().items():
        assert torch.allclose(resumed.trainer.model.state_dict()[k], v, atol=1e-6)


def test_resume_across_epochs_with_moving_offsets_matches_an_uninterrupted_run(home, tiny_file):
    # 6 steps per epoch: steps 10 to 20 cross two epoch boundaries, each epoch at its own offset
    def cfg(steps):
        return TrainConfig(batch_size=16, num_steps=20, eval_every=5, max_steps=steps, event_interval=1e9, seed=3)

    full = new_job(home, str(tiny_file), MODEL, cfg(20))
    assert full.trainer.steps_per_epoch == 6
    assert len({full.trainer.batches.offset(e) for e in range(1, 4)} - {0}) > 0  # the offsets do move
    full.start()
    half = new_job(home, str(tiny_file), MODEL, cfg(10))
    half.start()
    resumed = resume_job(home, half.run.id, {"max_steps": 20})
    resumed.start()
    for x, y in zip(full.run.metrics(), open_run(home, half.run.id).metrics()):
        assert x["val_nll"] == pytest.approx(y["val_nll"], abs=1e-6)
        assert x["train_loss"] == pytest.approx(y["train_loss"], abs=1e-6)
    for k, v in full.trainer.model.state_dict().items():
        assert torch.allclose(resumed.trainer.model.state_dict()[k], v, atol=1e-6)


def test_a_resumed_run_takes_the_weight_decay_it_is_given_and_keeps_it_otherwise(home, tiny_file):
    job, _ = train_run(home, tiny_file, 5, weight_decay=0.05)
    kept = resume_job(home, job.run.id, {"max_steps": 6})
    assert {g["weight_decay"] for g in kept.trainer.optimizer.param_groups} == {0.05}
    kept.start()
    changed = resume_job(home, job.run.id, {"max_steps": 7, "weight_decay": 0.1})
    assert {g["weight_decay"] for g in changed.trainer.optimizer.param_groups} == {0.1}
    assert all(g["decoupled_weight_decay"] for g in changed.trainer.optimizer.param_groups)
    changed.start()
    assert open_run(home, job.run.id).train_config().weight_decay == 0.1


def test_one_writer_lock_and_stale_lock(home, tiny_file):
    job, _ = train_run(home, tiny_file, 5)
    run = open_run(home, job.run.id)
    run.acquire_lock()
    other = open_run(home, job.run.id)
    with pytest.raises(RunError, match="is being trained by pid"):
        other.acquire_lock()
    run.release_lock()
    # a lock left by a dead process is taken over
    (run.path / "lock").write_text(json.dumps({"pid": 2**22 + 12345, "host": os.uname().nodename}))
    other.acquire_lock()
    other.release_lock()


def test_delete_and_rename(home, tiny_file):
    job, _ = train_run(home, tiny_file, 5)
    assert rename_run(home, job.run.id, "my-run") == "my-run"
    with pytest.raises(RunError, match="invalid run name"):
        rename_run(home, "my-run", "../escape")
    assert open_run(home, "my").id == "my-run"  # unique prefix
    assert delete_run(home, "my-run") == "my-run"
    assert list_runs(home) == []
    with pytest.raises(RunError, match="no run"):
        open_run(home, "my-run")


class Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickle_checkpoint_is_refused_without_running_it(home, tiny_file, tmp_path):
    job, _ = train_run(home, tiny_file, 5)
    marker = tmp_path / "pwned"
    (job.run.path / "best.safetensors").write_bytes(pickle.dumps(Payload(str(marker))))
    with pytest.raises(CheckpointError, match="best.safetensors"):
        open_run(home, job.run.id).load_model("best")
    [info] = list_runs(home)
    assert info.status == "damaged" and "best.safetensors" in info.damaged
    assert not marker.exists()


@pytest.mark.parametrize(
    "content,msg",
    [
        (b"", "empty or truncated"),
        (b"\x05\x00", "empty or truncated"),
        (b"garbage!" * 100, "garbage header|not a safetensors"),
    ],
)
def test_broken_checkpoints_give_clear_errors(home, tiny_file, content, msg):
    job, _ = train_run(home, tiny_file, 5)
    (job.run.path / "last.safetensors").write_bytes(content)
    with pytest.raises(CheckpointError, match=msg):
        open_run(home, job.run.id).load_model("last")
    with pytest.raises(CheckpointError):
        resume_job(home, job.run.id, {"max_steps": 10})


def test_truncated_tensor_data_and_foreign_and_future_files(home, tiny_file):
    job, _ = train_run(home, tiny_file, 5)
    best = job.run.path / "best.safetensors"
    data = best.read_bytes()
    best.write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        open_run(home, job.run.id).load_model("best")
    from safetensors.torch import save

    best.write_bytes(save({"w": torch.zeros(2)}, metadata={"format": "someone-else"}))
    with pytest.raises(CheckpointError, match="foreign"):
        open_run(home, job.run.id).load_model("best")
    best.write_bytes(save({"w": torch.zeros(2)}, metadata={"format": "charlm-tui", "format_version": "99"}))
    with pytest.raises(CheckpointError, match="newer charlm-tui"):
        open_run(home, job.run.id).load_model("best")


def test_hand_edited_config_gives_clear_error(home, tiny_file):
    job, _ = train_run(home, tiny_file, 5)
    cfgp = job.run.path / "config.json"
    cfg = json.loads(cfgp.read_text())
    cfg["model"]["cell"] = "transformer"
    cfgp.write_text(json.dumps(cfg))
    with pytest.raises(RunError, match="invalid model config.*cell must be one of"):
        open_run(home, job.run.id).load_model()
    cfgp.write_text("{not json")
    with pytest.raises(RunError, match="config.json is not valid JSON"):
        open_run(home, job.run.id).load_model()
    [info] = list_runs(home)
    assert info.status == "damaged"


def test_checkpoint_header_round_trip(tmp_path):
    p = tmp_path / "x.safetensors"
    checkpoint.save(p, {"a": torch.arange(3.0)}, {"k": [1, 2], "inf": float("inf")}, "best")
    tensors, meta = checkpoint.load(p, "best")
    assert tensors["a"].tolist() == [0.0, 1.0, 2.0] and meta["k"] == [1, 2] and meta["inf"] == float("inf")
    with pytest.raises(CheckpointError, match="expected 'last'"):
        checkpoint.load(p, "last")
    assert struct.unpack("<Q", p.read_bytes()[:8])[0] > 0
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temp file


def test_resume_refuses_to_change_the_batch_geometry(home, tiny_file):
    from charlm_tui.core.errors import ConfigError

    job, _ = train_run(home, tiny_file, 5)
    with pytest.raises(ConfigError, match="batch_size cannot change when resuming: the global batch"):
        resume_job(home, job.run.id, {"batch_size": 8, "max_steps": 10})
    assert open_run(home, job.run.id).lock_holder() is None


def test_recent_corpus_specs_newest_first(home, tiny_file):
    from charlm_tui.core.store.run_store import recent_corpus_specs

    train_run(home, tiny_file, 5)
    assert recent_corpus_specs(home) == [str(tiny_file)]


def test_a_running_run_without_heartbeat_is_stalled_and_a_dead_one_interrupted(home, tiny_file):
    import time as _time

    job, _ = train_run(home, tiny_file, 5)
    run = open_run(home, job.run.id)
    run.acquire_lock()  # held by this (live) process
    run.write_status(status="running")
    st = json.loads((run.path / "status.json").read_text())
    st["heartbeat"] = _time.time() - 600
    (run.path / "status.json").write_text(json.dumps(st))
    [info] = list_runs(home)
    assert info.status == "stalled" and "no heartbeat" in info.reason
    run.release_lock()
    [info] = list_runs(home)
    assert info.status == "interrupted"


def test_control_file_pauses_resumes_and_stops_a_trainer(home, tiny_file):
    import threading

    cfg = TrainConfig(batch_size=4, num_steps=10, eval_every=1000, max_steps=10**9, event_interval=0.05)
    job = new_job(home, str(tiny_file), MODEL, cfg)
    t = threading.Thread(target=job.start)
    t.start()
    run = open_run(home, job.run.id)
    run.send_control("pause")
    for _ in range(100):
        if run.status().get("status") == "paused":
            break
        _time_sleep(0.05)
    assert run.status()["status"] == "paused"
    run.send_control("stop")
    t.join(timeout=30)
    assert not t.is_alive() and run.status()["status"] == "stopped"


def _time_sleep(s):
    import time as _time

    _time.sleep(s)


def test_resume_of_a_cosine_run_matches_an_uninterrupted_one(home, tiny_file):
    full, _ = train_run(home, tiny_file, 20, lr_schedule="cosine", warmup_steps=3)
    holder = {}

    def stop_at_10(ev):
        if ev.kind == "eval" and ev.step == 10:
            holder["job"].trainer.request_stop("stopped")

    cfg = TrainConfig(
        batch_size=4,
        num_steps=10,
        eval_every=5,
        max_steps=20,
        event_interval=1e9,
        seed=3,
        lr_schedule="cosine",
        warmup_steps=3,
    )
    holder["job"] = half = new_job(home, str(tiny_file), MODEL, cfg, callback=stop_at_10)
    assert half.start().step == 10
    resumed = resume_job(home, half.run.id, {})
    assert resumed.start().step == 20
    a, b = full.run.metrics(), open_run(home, half.run.id).metrics()
    assert [m["step"] for m in b] == [5, 10, 15, 20]
    for x, y in zip(a, b):
        assert x["lr"] == pytest.approx(y["lr"], rel=1e-12)
        assert x["val_nll"] == pytest.approx(y["val_nll"], abs=1e-6)
    for k, v in full.trainer.model.state_dict().items():
        assert torch.allclose(resumed.trainer.model.state_dict()[k], v, atol=1e-6)


def test_status_text_names_the_reason_only_where_it_adds_something():
    def info(status, reason):
        return RunInfo("r", "c", "lstm", "1x8", 1, None, None, status, reason, "", "")

    assert info("stopped", "stopped").status_text == "stopped"
    assert info("finished", "max_seconds").status_text == "finished (max_seconds)"
    assert info("running", None).status_text == "running"


def test_missing_weights_say_what_exists_and_when_they_are_saved(home, tiny_file):
    job, _ = train_run(home, tiny_file, 10)
    run = open_run(home, job.run.id)
    (run.path / "best.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"no best weights yet; its last weights can be used \(--last"):
        run.load_model("best")
    (run.path / "last.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no saved weights yet: they are saved at its first evaluation"):
        run.load_model("last")


def test_resuming_a_run_that_ended_at_a_limit_gives_it_another_round_of_the_same_size(home, tiny_file):
    from charlm_tui.core.training.jobs import another_round

    job, final = train_run(home, tiny_file, 10)
    rid = job.run.id
    assert final.reason == "max_steps" and final.step == 10
    for n in (20, 30):  # each round is the size the run was created with, not the raised limit
        rnd = another_round(home, rid)
        extra, why = rnd.overrides, formatting.another_round(rnd)
        assert extra == {"max_steps": n} and why == "it had reached its step limit; training 10 more steps"
        assert resume_job(home, rid, extra).start().step == n
    # stopped by hand: nothing to extend, it just goes on with its limits
    status = job.run.path / "status.json"
    st = json.loads(status.read_text())
    status.write_text(json.dumps({**st, "reason": "stopped", "status": "stopped"}))
    assert another_round(home, rid) is None
    # an early stop: the patience starts again
    status.write_text(json.dumps({**st, "reason": "early_stop"}))
    bad = checkpoint.read_header(job.run.path / "last.safetensors")["meta"]["progress"]["bad_evals"]
    rnd = another_round(home, rid)
    extra, why = rnd.overrides, formatting.another_round(rnd)
    assert extra == {"patience": bad + 5} and "patience starts again (5 evaluations)" in why


def test_a_time_budget_grows_by_its_size(home, tiny_file):
    from charlm_tui.core.training.jobs import another_round

    cfg = TrainConfig(batch_size=4, num_steps=10, eval_every=5, max_seconds=0.3, event_interval=1e9, seed=3)
    job = new_job(home, str(tiny_file), MODEL, cfg)
    assert job.start().reason == "max_seconds"
    elapsed = checkpoint.read_header(job.run.path / "last.safetensors")["meta"]["progress"]["elapsed"]
    rnd = another_round(home, job.run.id)
    extra, why = rnd.overrides, formatting.another_round(rnd)
    assert extra == {"max_seconds": elapsed + 0.3} and why == "it had used its time budget; training 0.3s more"
    again = resume_job(home, job.run.id, extra).start()
    assert again.reason == "max_seconds" and again.elapsed >= elapsed + 0.3


def test_saved_samples_are_utf8_files_never_overwritten(home, tiny_file):
    job, _ = train_run(home, tiny_file, 5)
    run = open_run(home, job.run.id)
    a, b = run.save_sample("» the Ωcat\nsat"), run.save_sample("again")
    assert a != b and a.parent == b.parent == run.path / "samples"
    assert a.read_text(encoding="utf-8") == "» the Ωcat\nsat" and b.read_text(encoding="utf-8") == "again"
    assert [i.id for i in list_runs(home)] == [job.run.id] and list_runs(home)[0].damaged is None


def test_a_relative_corpus_path_is_stored_resolved_so_the_run_resumes_from_any_folder(home, tmp_path, monkeypatch):
    from charlm_tui.core.store.run_store import recent_corpus_specs
    from charlm_tui.core.training.jobs import new_job, resume_job
    from charlm_tui.core.training.trainer import TrainConfig
    from tests.conftest import TINY_TEXT

    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "tiny.txt").write_text(TINY_TEXT, encoding="utf-8")
    monkeypatch.chdir(work)
    model = {"cell": "gru", "embed_dim": 4, "hidden_size": 8, "num_layers": 1}
    job = new_job(home, "data/tiny.txt", model, TrainConfig(batch_size=4, num_steps=8, max_steps=3, seed=1))
    job.start()
    spec = job.run.config["corpus"]["spec"]
    assert spec == str(work / "data" / "tiny.txt")
    assert recent_corpus_specs(home) == [spec]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    resumed = resume_job(home, job.run.id, {"max_steps": 5})
    resumed.start()
    assert resumed.trainer.progress.step == 5
    # a catalog name stays a name
    from charlm_tui.core.data.catalog import stored_spec

    assert stored_spec("python-docs", home) == "python-docs"
    assert stored_spec("~/x.txt", home) == str(Path("~/x.txt").expanduser())


def test_weights_changed_on_disk_are_a_damaged_checkpoint_for_every_use(home, tiny_file, capsys):
    """Bytes XORed inside the tensor data: sample, export and --init-from used the corrupted weights
    silently. Each file carries a checksum of its payload, checked on every load."""
    from charlm_tui.cli.main import main
    from charlm_tui.core.errors import CheckpointError
    from charlm_tui.core.store import checkpoint
    from charlm_tui.core.store.run_store import open_run
    from charlm_tui.core.training.finetune import load_parent
    from charlm_tui.core.training.jobs import new_job
    from charlm_tui.core.training.trainer import TrainConfig

    model = {"cell": "gru", "embed_dim": 4, "hidden_size": 8, "num_layers": 1}
    job = new_job(home, str(tiny_file), model, TrainConfig(batch_size=4, num_steps=8, eval_every=5, max_steps=5))
    job.start()
    run = open_run(home, job.run.id)
    run.load_model("best")  # intact: loads
    for name in ("best.safetensors", "last.safetensors"):
        path = run.path / name
        raw = bytearray(path.read_bytes())
        start = checkpoint._payload_start(bytes(raw))
        raw[start + 5] ^= 0x40  # one bit of one weight
        path.write_bytes(bytes(raw))
    for which in ("best", "last"):
        with pytest.raises(CheckpointError, match="does not match the checksum"):
            run.load_model(which)
    assert main(["sample", run.id, "--prompt", "the "]) == 1
    assert "does not match the checksum" in capsys.readouterr().err
    assert main(["export", run.id, "--out", str(tiny_file.parent / "m.onnx")]) == 1
    assert "does not match the checksum" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="does not match the checksum"):
        load_parent(home, run.id)
