"""Fault test: a child process training into a temp home is SIGKILLed at random moments,
many of them during a save. Every time the run must still list, its best weights must load,
and --resume must continue it."""

import os
import random
import signal
import subprocess
import sys
import time

from charlm_tui.core.store.run_store import list_runs, open_run

KILLS = int(os.environ.get("CHARLM_KILL_TRIES", "8"))


def wait_training(home, proc, timeout: float = 300.0) -> None:
    """Until ``proc`` is the process training the run (its status says running with its pid)."""
    import json

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for status in (home / "runs").glob("*/status.json"):
            try:
                st = json.loads(status.read_text())
            except (OSError, ValueError):
                continue  # being replaced right now
            if st.get("status") == "running" and st.get("pid") == proc.pid:
                return
        if proc.poll() is not None:
            raise AssertionError(f"the trainer exited ({proc.returncode}) before training: {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"waited {timeout:g} s for pid {proc.pid} to start training, in vain")


def test_sigkill_at_random_moments_never_loses_the_run(home, tiny_file):
    rng = random.Random(1234)
    run_id = None
    saved = False  # the run has written its last state at least once
    killed = 0
    base = [
        sys.executable,
        "-m",
        "charlm_tui",
        "train",
        "--home",
        str(home),
        "--max-steps",
        "1000000",
        "--eval-every",
        "2",
        "--batch-size",
        "4",
        "--num-steps",
        "16",
    ]
    while killed < KILLS:
        if run_id is None:
            cmd = base + [str(tiny_file), "--hidden-size", "96", "--embed-dim", "16"]
        else:
            cmd = base + ["--resume", run_id]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # kill only once this process trains (a kill during the torch import covers nothing, and a
        # loaded machine imports slowly), then at a random moment of its training and saving
        wait_training(home, proc)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed += 1
        infos = list_runs(home)
        assert len(infos) == 1, infos
        info = infos[0]
        assert info.damaged is None, info.damaged
        run = open_run(home, info.id)
        if (run.path / "best.safetensors").exists():
            model, vocab = run.load_model("best")
            assert vocab.size > 2
        if (run.path / "last.safetensors").exists():
            run.load_model("last")
            saved = True
        else:  # killed before its first save (likelier on a loaded machine): it resumes from step 0
            assert not saved, "last state disappeared after it had been written"
        run_id = info.id
    # a final resume that runs to completion
    steps_before = open_run(home, run_id).status()["steps"]
    r = subprocess.run(
        base[:-6] + ["--resume", run_id, "--max-steps", str(steps_before + 6), "--eval-every", "2"],
        capture_output=True,
        text=True,
        timeout=600,  # a loaded machine; it returns as soon as the run ends
    )
    assert r.returncode == 0, r.stderr
    st = open_run(home, run_id).status()
    assert st["status"] == "finished" and st["steps"] >= steps_before
    print(f"SIGKILLs tried: {killed}")
