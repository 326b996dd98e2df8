"""Hostile and clumsy input: every case ends in one line a person can act on (exit 1 for bad
input, 2 for bad arguments), never a traceback, a hang or unbounded memory."""

from __future__ import annotations

import errno
import math
import os

import pytest
import torch

from charlm_tui.core.config import ModelConfig, TrainConfig, check_fits_memory, training_bytes
from charlm_tui.core.data.catalog import resolve
from charlm_tui.core.data.vocab import Vocab
from charlm_tui.core.errors import ConfigError, GenerationError
from charlm_tui.core.model.charlm import CharLM
from charlm_tui.core.model.sampling import MAX_PROMPT_CHARS, generate
from charlm_tui.core.training.jobs import new_job
from tests.conftest import cli

TINY = ["--embed-dim", "4", "--hidden-size", "8", "--num-layers", "1", "--batch-size", "4", "--num-steps", "8"]


def one_line(r, code=1, *needles):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


def test_bad_arguments_are_one_line_exit_2(tiny_file):
    one_line(cli("train", str(tiny_file), "--seed", "1e21"), 2, "--seed", "whole number")
    one_line(cli("train", str(tiny_file), "--seed", str(10**21)), 2, "seed must be between 0 and")
    one_line(cli("sample", "latest", "--seed", "-1"), 2, "a seed is between 0 and")
    one_line(cli("sample", "latest", "--temperature", "-0.5"), 2, "temperature must be between 0 and 5")
    one_line(cli("sample", "latest", "--top-k", "-3"), 2, "top-k must be at least 0")
    one_line(cli("serve", "--port", "99999"), 2, "between 1 and 65535")
    one_line(cli("train", str(tiny_file), "--num-layers", "1e21"), 2, "whole number")
    # out of core's bounds: the parser refuses with core's words (core.settings)
    one_line(cli("train", "python-docs", "--hidden-size", "10000000"), 2, "between 1 and 65,536")
    one_line(cli("train", "python-docs", "--num-layers", str(10**21)), 2, "between 1 and 64")


def test_bad_values_are_one_line_exit_1(tiny_file):
    for enc in ("rot13", "hex", "base64", "zlib"):
        one_line(cli("train", str(tiny_file), "--encoding", enc), 1, "is not a text encoding")
    one_line(cli("train", str(tiny_file), "--encoding", "utf-16"), 1, "cannot decode as utf-16", "--encoding")
    one_line(cli("train", "python-docs", "--hidden-size", "20000"), 1, "GiB to train", "smaller hidden size")
    one_line(cli("train", "ftp://example.com/x.txt"), 1, "ftp:// URLs are not supported")
    one_line(cli("corpora", "add", "http://[::1"), 1, "not a valid URL")


def test_a_fifo_as_the_corpus_is_refused_at_once(tmp_path, home):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    # a hang would end in the subprocess's timeout, which fails the test and says so
    one_line(cli("train", str(fifo), *TINY, timeout=120), 1, "not a regular file")
    one_line(cli("corpora", "add", str(fifo), timeout=120), 1, "not a regular file")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text("some words here\n" * 100)
    os.mkfifo(folder / "b.txt")  # a FIFO inside a folder corpus is skipped, not read
    c = resolve(str(folder), home)
    assert c.stats.chars == 1600


def test_a_utf16_file_with_a_bom_is_read_as_utf16(tmp_path, home):
    for enc in ("utf-16", "utf-32"):
        p = tmp_path / f"{enc}.txt"
        p.write_bytes("héllo wörld\n".encode(enc))  # Python writes the BOM
        c = resolve(str(p), home)
        assert c.stats.preview == "héllo wörld\n" and c.stats.chars == 12


def test_memory_is_estimated_before_anything_is_allocated():
    small = ModelConfig(100, hidden_size=256, num_layers=2)
    assert 20 << 20 < training_bytes(small, 32, 64) < 200 << 20
    check_fits_memory(small, TrainConfig(), available=8 << 30)
    with pytest.raises(ConfigError, match=r"needs about .* GiB to train .* more than this machine has \(1.0 GiB\)"):
        check_fits_memory(ModelConfig(100, hidden_size=4096, num_layers=4), TrainConfig(), available=1 << 30)
    for bad in (
        dict(hidden_size=True),
        dict(hidden_size=1.5),
        dict(num_layers=10**21),
        dict(cell=5),
        dict(dropout="x"),
        dict(embed_dim=0),
    ):
        with pytest.raises(ConfigError):
            ModelConfig(100, **bad).validate()
    for bad in (dict(seed=-1), dict(seed=2**64), dict(lr=math.inf), dict(lr=math.nan), dict(batch_size=2.0)):
        with pytest.raises(ConfigError):
            TrainConfig(**bad).validate()


def test_long_prompts_warm_up_in_chunks_exactly_and_huge_ones_are_refused():
    import charlm_tui.core.model.sampling as sampling

    torch.manual_seed(0)
    vocab = Vocab("abc \n")
    model = CharLM.from_config(ModelConfig(vocab.size, hidden_size=16, num_layers=2))
    prompt = "abc cab\n" * 1500  # 12,000 characters: three chunks
    chunked = [s.id for s in generate(model, vocab, prompt, 30, seed=5)]
    old = sampling.WARMUP_CHUNK
    sampling.WARMUP_CHUNK = 10**9
    try:
        one_pass = [s.id for s in generate(model, vocab, prompt, 30, seed=5)]
    finally:
        sampling.WARMUP_CHUNK = old
    assert chunked == one_pass
    with pytest.raises(GenerationError, match="at most 200,000"):
        next(generate(model, vocab, "a" * (MAX_PROMPT_CHARS + 1), 5))


def test_a_diverging_run_ends_as_nan_with_a_clear_message_not_an_overflow(home, tiny_file):
    cfg = TrainConfig(batch_size=4, num_steps=8, eval_every=5, max_steps=60, lr=1.0, clip=1e12, event_interval=1e9)
    job = new_job(home, str(tiny_file), {"embed_dim": 4, "hidden_size": 8, "num_layers": 1}, cfg)
    final = job.start()
    assert final.reason in ("nan", "max_steps")
    if final.reason == "nan":
        assert "NaN" in final.message and ("best weights" in final.message or "lower --lr" in final.message)
    assert job.run.status()["status"] in ("failed", "finished")


def test_os_errors_say_what_to_do(home):
    from charlm_tui.cli.main import os_error_text

    assert "disk is full: /x" in os_error_text(OSError(errno.ENOSPC, "No space left on device", "/x"), home)
    assert "permission denied: /y" in os_error_text(PermissionError(errno.EACCES, "Permission denied", "/y"), home)
    assert "read-only" in os_error_text(OSError(errno.EROFS, "Read-only file system", "/z"), home)
    # inside the data dir the data dir is to blame; outside it (export --out, a user's file) that folder is
    inner = str(home / "runs" / "x" / "last.safetensors")
    text = os_error_text(PermissionError(errno.EACCES, "Permission denied", inner), home)
    assert text == f"permission denied: {inner}; check the permissions of the data dir ({home})"
    text = os_error_text(PermissionError(errno.EACCES, "Permission denied", "/srv/out/m.onnx"), home)
    assert text == "permission denied: /srv/out/m.onnx; check the permissions of /srv/out"
    text = os_error_text(OSError(errno.EROFS, "Read-only file system", "/mnt/ro/m.onnx"), home)
    assert text == "read-only file system: /mnt/ro/m.onnx; choose a writable folder"


def test_disk_full_while_saving_keeps_the_last_good_checkpoint(home, tiny_file, monkeypatch):
    from charlm_tui.core import atomic
    from charlm_tui.core.store.run_store import open_run

    cfg = TrainConfig(batch_size=4, num_steps=8, eval_every=5, max_steps=10, event_interval=1e9)
    job = new_job(home, str(tiny_file), {"embed_dim": 4, "hidden_size": 8, "num_layers": 1}, cfg)
    job.start()
    run = open_run(home, job.run.id)
    before = (run.path / "last.safetensors").read_bytes()
    real_open = open

    def full(path, mode="r", *a, **k):  # every temp file of a save hits ENOSPC when written
        f = real_open(path, mode, *a, **k)
        if ".tmp-" in str(path):

            def write(_data):
                raise OSError(errno.ENOSPC, "No space left on device", str(path))

            f.write = write
        return f

    monkeypatch.setattr(atomic, "open", full, raising=False)
    from charlm_tui.core.training.jobs import resume_job

    with pytest.raises(OSError):
        resume_job(home, run.id, {"max_steps": 20}).start()
    monkeypatch.undo()
    assert (run.path / "last.safetensors").read_bytes() == before
    assert not [p for p in run.path.iterdir() if ".tmp-" in p.name]
    assert not (run.path / "lock").exists()
    run.load_model("last")
