"""Locks and runs that must always be recoverable: a lock is whole or absent, names its process
beyond its pid, can be broken honestly when stale, and a run killed before its first save resumes
from step 0."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest
import torch

from charlm_tui.core.errors import RunError
from charlm_tui.core.store.process import boot_id, start_time
from charlm_tui.core.store.run_store import delete_run, list_runs, open_run, rename_run
from charlm_tui.core.training.jobs import new_job, resume_job
from charlm_tui.core.training.trainer import TrainConfig
from tests.conftest import cli

MODEL = {"cell": "lstm", "embed_dim": 4, "hidden_size": 8, "num_layers": 1, "dropout": 0.0}
CFG = dict(batch_size=4, num_steps=8, eval_every=5, event_interval=1e9, seed=7)


def finished_run(home, tiny_file, steps=5):
    job = new_job(home, str(tiny_file), MODEL, TrainConfig(max_steps=steps, **CFG))
    job.start()
    return open_run(home, job.run.id)


@pytest.fixture
def sleeper():
    p = subprocess.Popen(["sleep", "60"])
    yield p
    p.kill()
    p.wait()


def write_lock(run, **fields):
    (run.path / "lock").write_text(json.dumps(fields))


def test_an_empty_or_garbage_lock_holds_nothing(home, tiny_file):
    run = finished_run(home, tiny_file)
    for content in ("", "{", '{"pid": "abc", "host": "x"}', "[]", '{"pid": 0, "host": "h"}'):
        (run.path / "lock").write_text(content)
        assert run.lock_holder() is None
        [info] = list_runs(home)
        assert info.status == "finished"
    resume_job(home, run.id, {"max_steps": 6}).start()  # takes the damaged lock over
    assert not (run.path / "lock").exists()
    (run.path / "lock").write_text("")
    assert rename_run(home, run.id, "renamed") == "renamed"
    (home / "runs" / "renamed" / "lock").write_text("")
    delete_run(home, "renamed")


def test_a_reused_pid_does_not_hold_the_lock(home, tiny_file, sleeper, monkeypatch):
    from charlm_tui.core.store import process

    monkeypatch.setattr(process, "boot_id", lambda: "this-boot")  # some containers hide the real one
    run = finished_run(home, tiny_file)
    me = dict(pid=sleeper.pid, host=socket.gethostname(), boot="this-boot")
    write_lock(run, **me, start="1")  # the pid is alive, but it is a later process than the lock's
    assert run.lock_holder() is None
    write_lock(run, **me, start=start_time(sleeper.pid))  # the very process: it holds the lock
    assert run.lock_holder()["pid"] == sleeper.pid
    with pytest.raises(RunError, match="is alive and holds"):
        run.break_lock(force=True)
    with pytest.raises(RunError, match="is training it"):
        delete_run(home, run.id)
    write_lock(run, **{**me, "boot": "another-boot"}, start=start_time(sleeper.pid))  # from before a reboot
    assert run.lock_holder() is None


def test_a_lock_without_start_time_goes_stale_without_heartbeats(home, tiny_file, sleeper):
    run = finished_run(home, tiny_file)
    write_lock(run, pid=sleeper.pid, host=socket.gethostname(), t=time.time())
    assert run.lock_holder() is not None  # cannot tell yet
    st = json.loads((run.path / "status.json").read_text())
    (run.path / "status.json").write_text(json.dumps({**st, "heartbeat": time.time() - 3600}))
    assert run.lock_holder() is not None  # the lock itself is new
    write_lock(run, pid=sleeper.pid, host=socket.gethostname(), t=time.time() - 3600)  # no heartbeat for an hour
    assert run.lock_holder() is None


def test_another_machines_lock_is_broken_only_with_force(home, tiny_file):
    run = finished_run(home, tiny_file)
    write_lock(run, pid=123, host="some-other-host", since="2026-01-01T00:00:00+0000")
    r = cli("runs", "unlock", run.id)
    assert r.returncode == 1 and "--force" in r.stderr and (run.path / "lock").exists()
    r = cli("runs", "unlock", run.id, "--force")
    assert r.returncode == 0 and "removed the lock of pid 123 on some-other-host" in r.stdout
    assert not (run.path / "lock").exists()
    assert "has no lock" in cli("runs", "unlock", run.id).stdout


def test_the_lock_is_written_whole_and_names_the_process(home, tiny_file):
    run = finished_run(home, tiny_file)
    run.acquire_lock()
    lock = json.loads((run.path / "lock").read_text())
    assert lock["pid"] == os.getpid() and lock["start"] == start_time(os.getpid()) and lock["boot"] == boot_id()
    assert not [p for p in run.path.iterdir() if ".tmp-" in p.name]
    with pytest.raises(RunError, match="is being trained by pid"):
        open_run(home, run.id).acquire_lock()
    run.release_lock()
    assert not (run.path / "lock").exists()


def test_a_run_killed_before_its_first_save_resumes_from_step_0_as_it_would_have_run(home, tiny_file):
    job = new_job(home, str(tiny_file), MODEL, TrainConfig(max_steps=10, **CFG))
    rid = job.run.id  # folder, config, vocab, status and lock exist; no checkpoint yet
    write_lock(job.run, pid=2**22 + 4321, host=socket.gethostname())  # ... and its process was killed
    del job
    [info] = list_runs(home)
    assert info.status == "interrupted"
    final = resume_job(home, rid).start()
    assert final.step == 10 and final.reason == "max_steps"
    model, _ = open_run(home, rid).load_model("last")
    ref = finished_run(home, tiny_file, steps=10)  # the same run, never interrupted
    ref_model, _ = ref.load_model("last")
    for k, v in ref_model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_metrics_after_the_saved_state_are_not_repeated_on_resume(home, tiny_file):
    run = finished_run(home, tiny_file, steps=10)
    with open(run.path / "metrics.jsonl", "a") as f:  # a process killed after evaluating step 15, before saving
        f.write(json.dumps({"step": 15, "val_nll": 9.0, "val_ppl": 8103.0, "val_bpc": 13.0}) + "\n")
        f.write('{"step": 16, "val_n')  # torn by the kill
    resume_job(home, run.id, {"max_steps": 20}).start()
    assert [m["step"] for m in run.metrics()] == [5, 10, 15, 20] and run.metrics_skipped == 0
    assert run.metrics()[2]["val_nll"] != 9.0


def test_stop_of_a_killed_run_says_it_was_interrupted(home, tiny_file):
    run = finished_run(home, tiny_file)
    st = json.loads((run.path / "status.json").read_text())
    (run.path / "status.json").write_text(json.dumps({**st, "status": "running", "reason": None}))
    write_lock(run, pid=2**22 + 999, host=socket.gethostname())  # its process was SIGKILLed
    r = cli("runs", "stop", run.id)
    assert r.returncode == 1 and "is not training (status: interrupted" in r.stderr, r.stderr


def test_runs_says_why_a_run_is_stalled_or_interrupted_without_json(home, tiny_file, sleeper):
    stalled, dead = finished_run(home, tiny_file), finished_run(home, tiny_file)
    for run in (stalled, dead):
        st = json.loads((run.path / "status.json").read_text())
        (run.path / "status.json").write_text(
            json.dumps({**st, "status": "running", "reason": None, "heartbeat": time.time() - 300})
        )
    # a live process that stopped beating (pid, start time and boot id all match), and a dead one
    write_lock(
        stalled,
        pid=sleeper.pid,
        host=socket.gethostname(),
        start=start_time(sleeper.pid),
        boot=boot_id(),
        t=time.time() - 300,
    )
    write_lock(dead, pid=2**22 + 999, host=socket.gethostname())
    r = cli("runs")
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines()[1:]}
    assert "stalled" in rows[stalled.id] and "no heartbeat for 30" in rows[stalled.id]  # 300 s, and a few
    assert "interrupted" in rows[dead.id] and "process ended without saving" in rows[dead.id]


@pytest.mark.parametrize("damage", ["drop", "retype"])
def test_a_checkpoint_whose_optimizer_settings_are_damaged_refuses_to_resume(home, tiny_file, damage):
    """Found by the damage suite: a flipped byte renamed 'weight_decay', the load succeeded, and the
    first step died with a KeyError inside torch. (The weight decay is now set from the run's config
    on load, so a setting the run does not own stands in for it: 'eps'.)"""
    from charlm_tui.core.errors import CheckpointError
    from charlm_tui.core.store import checkpoint

    run = finished_run(home, tiny_file)
    path = run.path / "last.safetensors"
    tensors, meta = checkpoint.load(path)
    group = meta["optimizer"]["param_groups"][0]
    if damage == "drop":
        del group["eps"]
    else:
        group["betas"] = "0.9"
    checkpoint.save(path, tensors, meta, kind="last")
    with pytest.raises(CheckpointError, match="optimizer setting"):
        resume_job(home, run.id, {"max_steps": 12})


def test_a_run_being_created_for_a_detached_trainer_is_starting_and_cannot_be_deleted(home, sleeper):
    """train --detach makes the folder, then its trainer takes 4-30 s to write config.json: the run
    was listed as damaged ('config.json is missing'), and a delete said 'deleted' before the
    trainer brought it back. The detacher now holds the lock for its trainer."""
    from charlm_tui.core.store.run import Run

    path = home / "runs" / "tiny-20260101-000000-abcd"
    path.mkdir(parents=True)
    Run(path).acquire_lock(pid=sleeper.pid)
    [info] = list_runs(home)
    assert info.status == "starting" and info.damaged is None and str(sleeper.pid) in info.reason
    with pytest.raises(RunError, match="is training it"):
        delete_run(home, path.name)
    with pytest.raises(RunError, match="is training it"):
        rename_run(home, path.name, "other")
    assert path.is_dir()
    sleeper.kill()
    sleeper.wait()
    [info] = list_runs(home)  # its trainer is gone before it wrote anything: the husk is damaged
    assert info.status == "damaged"
    delete_run(home, path.name)


def test_a_process_takes_the_lock_its_parent_took_for_it(home, tiny_file):
    run = finished_run(home, tiny_file)
    data = {"pid": os.getpid(), "host": socket.gethostname(), "start": start_time(os.getpid()), "boot": boot_id()}
    write_lock(run, **data, by=os.getppid(), t=time.time())  # as the detacher writes it for its trainer
    again = open_run(home, run.id)
    again.acquire_lock()  # no 'being trained by pid <me>'
    assert again.lock_holder()["pid"] == os.getpid()
    again.release_lock()
    assert not (run.path / "lock").exists()


def test_unlock_force_removes_a_live_pids_lock_after_a_clear_question(home, tiny_file, sleeper):
    """A lock without start/boot fields whose pid is alive (reused by another program) could not be
    cleared even with --force."""
    run = finished_run(home, tiny_file)
    write_lock(run, pid=sleeper.pid, host=socket.gethostname(), t=time.time())
    r = cli("runs", "unlock", run.id)
    assert r.returncode == 1 and "--force" in r.stderr and (run.path / "lock").exists()
    import subprocess as sp
    import sys

    def unlock(answer):
        return sp.run(
            [sys.executable, "-m", "charlm_tui", "runs", "unlock", run.id, "--force"],
            input=answer,
            capture_output=True,
            text=True,
            timeout=60,
        )

    r = unlock("n\n")
    assert r.returncode == 1 and f"pid {sleeper.pid} is alive" in r.stderr and "Remove it anyway? [y/N]" in r.stderr
    assert (run.path / "lock").exists()
    r = unlock("y\n")
    assert r.returncode == 0 and f"removed the lock of live pid {sleeper.pid}" in r.stdout
    assert not (run.path / "lock").exists()
