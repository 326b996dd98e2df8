"""ONNX export: the exported step matches the engine's stepper token by token (lstm, gru, rnn),
--weights last works, a missing extra is named, and README's onnxruntime snippet runs as written."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from charlm_tui.cli.main import main
from charlm_tui.core.cells import cell_names, cell_shape
from charlm_tui.core.data.vocab import Vocab
from charlm_tui.core.model.charlm import CharLM
from charlm_tui.core.model.export import check, export_model
from tests.conftest import TINY_CLI, cli

README = Path(__file__).resolve().parents[2] / "README.md"
TOLERANCE = 1e-4  # float32 logits of the same maths in two runtimes


@pytest.mark.parametrize("cell", cell_names())
def test_onnxruntime_steps_match_the_engine_token_by_token(cell, tmp_path):
    torch.manual_seed(0)
    vocab = Vocab("abcdefgh \n")
    model = CharLM(vocab.size, 8, 16, 2, 0.1, cell).eval()
    with torch.no_grad():
        model.head.weight.mul_(4)
    onnx_path, json_path = export_model(model, vocab.chars, tmp_path / f"{cell}.onnx", {"run_id": "x"})
    assert check(model, onnx_path, n=400) < TOLERANCE
    info = json.loads(json_path.read_text())
    assert info["chars"] == "".join(vocab.chars) and info["model"]["cell"] == cell
    # a batch of 3 rows, stepped directly: each row as the engine's stepper at batch 3 gives it
    sess = ort.InferenceSession(str(onnx_path))
    stepper = model.stepper(3)
    stepper.load(model.init_state(3))
    state = {k: np.zeros((2, 3, 16), np.float32) for k in (["h", "c"] if cell_shape(cell).cell_state else ["h"])}
    rng = np.random.default_rng(1)
    for _ in range(50):
        tokens = rng.integers(1, vocab.size, 3)
        logits, *new = sess.run(None, {"token": tokens.astype(np.int64), **state})
        state = dict(zip(state, new))
        np.testing.assert_allclose(logits, stepper.step(tokens), atol=TOLERANCE)


def test_export_a_run_with_its_last_weights(tiny_file, home, tmp_path):
    r = cli("train", str(tiny_file), "--home", str(home), "--json", *TINY_CLI, "--max-steps", "10")
    run_id = json.loads(r.stdout.splitlines()[-1])["run_id"]
    out = tmp_path / "out" / "tiny"
    r = cli("export", run_id, "--weights", "last", "--out", str(out), "--home", str(home))
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}.onnx and {out}.json" in r.stdout and "agree over 300 characters" in r.stdout
    info = json.loads(Path(f"{out}.json").read_text())
    assert info["run_id"] == run_id and info["weights"] == "last" and info["onnx"] == "tiny.onnx"
    # the last weights, not the best: the exported logits are the last checkpoint's
    from charlm_tui.core.store.run_store import open_run

    model, vocab = open_run(home, run_id).load_model("last")
    assert check(model, Path(f"{out}.onnx"), n=50) < TOLERANCE
    r = cli("export", "no-such-run", "--home", str(home))
    assert r.returncode == 1 and "no-such-run" in r.stderr


def test_without_the_extra_export_says_what_to_install(monkeypatch, capsys, home):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    assert main(["export", "latest", "--home", str(home)]) == 1
    err = capsys.readouterr().err
    assert 'export needs onnxruntime: pip install "charlm-tui[export]"' in err
    assert not (home / "runs").exists()  # nothing read or written first


def test_the_readme_snippet_samples_from_an_export(tiny_file, home, tmp_path):
    text = README.read_text(encoding="utf-8")
    snippet = re.search(r"<!-- onnx-snippet[^>]*-->\n```python\n(.*?)```", text, re.S).group(1)
    assert len(snippet.strip().splitlines()) <= 12
    r = cli("train", str(tiny_file), "--home", str(home), "--json", *TINY_CLI, "--max-steps", "10")
    run_id = json.loads(r.stdout.splitlines()[-1])["run_id"]
    assert cli("export", run_id, "--out", str(tmp_path / "RUN-best.onnx"), "--home", str(home)).returncode == 0
    r = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = r.stdout.rstrip("\n")
    assert out.startswith("The ") and len(out) == len("The ") + 200
    assert set(out[4:]) <= set(Vocab(tiny_file.read_text()).chars)  # what follows the prompt


def test_an_unwritable_place_is_one_error_line(tiny_file, home):
    r = cli("train", str(tiny_file), "--home", str(home), "--json", *TINY_CLI, "--max-steps", "5")
    run_id = json.loads(r.stdout.splitlines()[-1])["run_id"]
    r = cli("export", run_id, "--out", "/proc/charlm-tui-export-test.onnx", "--home", str(home))
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and r.stderr.startswith("charlm-tui: error: ")
    assert "torchvision" not in r.stderr  # no second exporter tried on a write error


def _tiny_model():
    torch.manual_seed(0)
    vocab = Vocab("abc \n")
    return CharLM(vocab.size, 4, 8, 1, 0.0, "gru").eval(), vocab


def test_export_refuses_devices_and_writes_the_pair_together_or_not_at_all(tmp_path, monkeypatch):
    """--out /dev/full wrote /dev/full.onnx as root; a folder where the JSON goes left a lone .onnx;
    a full disk left x.onnx.tmp."""
    from charlm_tui.core.errors import CharLMError

    model, vocab = _tiny_model()
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    for out in (Path("/dev/full.onnx"), Path("/dev/shm/x.onnx")):
        with pytest.raises(CharLMError, match="system folder"):
            export_model(model, vocab.chars, out, {})
    assert not Path("/dev/full.onnx").exists()
    (tmp_path / "m.json").mkdir()  # where the JSON would go
    with pytest.raises(CharLMError, match="is a folder, not a file"):
        export_model(model, vocab.chars, tmp_path / "m.onnx", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]
    # the disk fills while the JSON is written: nothing is left, not even a temporary
    real = Path.write_text

    def full(self, *a, **kw):
        if ".json.tmp" in self.name:
            import errno

            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError):
        export_model(model, vocab.chars, tmp_path / "n.onnx", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_a_full_disk_message_fits_the_command(home):
    import errno

    from charlm_tui.cli.main import os_error_text

    e = OSError(errno.ENOSPC, "No space left on device", "/x/m.onnx")
    assert "checkpoints are intact" not in os_error_text(e, home, "export")
    assert "checkpoints are intact" not in os_error_text(e, home, "corpora")
    assert "checkpoints are intact" in os_error_text(e, home, "train")
