"""Shared fixtures. Tests never touch the real data dir: CHARLM_TUI_HOME points at a temp dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Property tests (tests/faults): the same examples on every run by default, so CI is repeatable;
# HYPOTHESIS_PROFILE=explore draws new ones each run, to hunt for new failures. No example database
# is written into the tree. No deadline: Hypothesis's default fails an example that takes over
# 200 ms, which times the machine (a sizing property test failed so beside a training run).
from hypothesis import settings  # noqa: E402

settings.register_profile("repeatable", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", derandomize=False, database=None, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


def pytest_collection_modifyitems(session, config, items):
    """The house rules (tests/test_tooling.py) run before the tests, as CI's first step."""
    items.sort(key=lambda item: 0 if item.path.name == "test_tooling.py" else 1)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("CHARLM_TUI_HOME", str(h))
    return h


@pytest.fixture(autouse=True)
def _fp32_unless_asked(monkeypatch):
    """auto precision measures the machine and may pick bf16: tests train in fp32 unless they ask
    (tests/core/test_precision.py does)."""
    monkeypatch.setenv("CHARLM_TUI_PRECISION", "fp32")
    # fit to budget (the default preset) sizes the model from this assumed speed instead of timing
    # the machine (tests/core/test_sizing.py measures with fake clocks)
    monkeypatch.setenv("CHARLM_TUI_SPEEDS", "flops:1.6e11")


@pytest.fixture(autouse=True)
def _torch_threads():
    """One torch thread: under contention two threads made a tiny training 2-4x slower (17.7-28.7 s
    against 7.3-9.4 s with one); a test about threads sets its own."""
    import torch

    torch.set_num_threads(1)
    yield


TINY_TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 40
# the tiny model and batch the CLI tests train (each test adds its own limits)
TINY_CLI = "--embed-dim 8 --hidden-size 16 --num-layers 1 --batch-size 4 --num-steps 10 --eval-every 5".split()


@pytest.fixture
def tiny_file(tmp_path) -> Path:
    p = tmp_path / "tiny.txt"
    p.write_text(TINY_TEXT, encoding="utf-8")
    return p


# commands that must run in a process of their own: a server
OWN_PROCESS = ("serve",)


def cli(*args: str, env: dict | None = None, timeout: float = 120, process: bool = False):
    """Run the CLI and return (returncode, stdout, stderr) as a CompletedProcess. In this process
    (``main([...])`` with its output captured: fast, and one torch thread like every test), unless
    ``process`` or the command needs a process of its own; then ``python -m charlm_tui``, the code
    under test, in a subprocess (a few tests keep that path on purpose)."""
    import subprocess

    if process or any(a in OWN_PROCESS for a in args[:1]):
        return subprocess.run(
            [sys.executable, "-m", "charlm_tui", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
    return _in_process(list(args), env or {})


def _in_process(args: list[str], env: dict) -> subprocess.CompletedProcess:
    import contextlib
    import io
    import subprocess

    from charlm_tui.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as e:  # argparse: bad arguments, --help
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess(["charlm-tui", *args], code, out.getvalue(), err.getvalue())
