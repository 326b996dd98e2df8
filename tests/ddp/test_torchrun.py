"""DDP under torchrun: 2 CPU processes (gloo, loopback) train one run whose losses match a
single process with the same global batch and seed (dropout 0), with either LR schedule."""

import json
import subprocess
import sys

import pytest

ARGS = [
    "--embed-dim",
    "8",
    "--hidden-size",
    "16",
    "--num-layers",
    "2",
    "--dropout",
    "0",
    "--num-steps",
    "10",
    "--eval-every",
    "5",
    "--max-steps",
    "15",
    "--seed",
    "3",
    "--device",
    "cpu",
    "--json",
]


def evals(stdout: str) -> tuple[list[dict], dict]:
    lines = [json.loads(x) for x in stdout.splitlines() if x.startswith("{")]
    return [x for x in lines if x["event"] == "eval"], lines[-1]


def torchrun(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "charlm_tui",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("partition,schedule", [("sequential", "plateau"), ("random", "cosine")])
def test_two_ranks_match_one_process_with_the_same_global_batch(tmp_path, tiny_file, partition, schedule):
    args = ["--partition", partition, "--lr-schedule", schedule, "--warmup-steps", "3", *ARGS]
    single = subprocess.run(
        [
            sys.executable,
            "-m",
            "charlm_tui",
            "train",
            str(tiny_file),
            "--home",
            str(tmp_path / "a"),
            "--batch-size",
            "4",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert single.returncode == 0, single.stderr
    ddp = torchrun("train", str(tiny_file), "--home", str(tmp_path / "b"), "--batch-size", "2", *args)
    assert ddp.returncode == 0, ddp.stderr[-3000:] + "\nstdout (was the work done?):\n" + ddp.stdout[-1500:]
    (s_evals, _), (d_evals, d_sum) = evals(single.stdout), evals(ddp.stdout)
    assert [e["step"] for e in d_evals] == [5, 10, 15] == [e["step"] for e in s_evals]
    for a, b in zip(s_evals, d_evals):
        assert b["lr"] == pytest.approx(a["lr"], rel=1e-9)
        assert b["val_nll"] == pytest.approx(a["val_nll"], abs=1e-5)
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=1e-5)
    runs = list((tmp_path / "b" / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name == d_sum["run_id"]  # only rank 0 wrote a run folder
    cfg = json.loads((runs[0] / "config.json").read_text())
    assert cfg["world_size"] == 2 and cfg["train"]["batch_size"] == 2
    if partition == "sequential":
        # resume with another world size: one process takes the whole global batch of 4
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "charlm_tui",
                "train",
                "--resume",
                d_sum["run_id"],
                "--home",
                str(tmp_path / "b"),
                "--max-steps",
                "20",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert r.returncode == 0, r.stderr
        assert evals(r.stdout)[1]["steps"] == 20
        cfg = json.loads((runs[0] / "config.json").read_text())
        assert cfg["world_size"] == 1 and cfg["train"]["batch_size"] == 4
