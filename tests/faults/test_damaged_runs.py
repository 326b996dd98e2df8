"""One damaged run folder is harmless: every file of a run is damaged in many generated ways, and
listing, 'latest', show, sample, eval, resume and delete each end cleanly (a clear error, or the run
marked damaged) while a healthy run beside it is untouched."""

from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.model.sampling import generate
from charlm_tui.core.store.run_store import delete_run, list_runs, open_run, run_info
from charlm_tui.core.training.jobs import another_round, new_job, resume_job
from charlm_tui.core.training.trainer import TrainConfig
from tests.conftest import TINY_TEXT

MODEL = {"cell": "gru", "embed_dim": 4, "hidden_size": 8, "num_layers": 1, "dropout": 0.0}
FILES = ["config.json", "status.json", "vocab.json", "metrics.jsonl", "lock", "best.safetensors", "last.safetensors"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A finished tiny run (trained once for the module) and the corpus it was trained on."""
    import os

    root = tmp_path_factory.mktemp("template")
    corpus = root / "tiny.txt"
    corpus.write_text(TINY_TEXT)
    home = root / "home"
    old = os.environ.get("CHARLM_TUI_HOME")
    cfg = TrainConfig(batch_size=4, num_steps=8, eval_every=5, max_steps=10, event_interval=1e9, seed=1)
    job = new_job(home, str(corpus), MODEL, cfg)
    job.start()
    if old is not None:
        os.environ["CHARLM_TUI_HOME"] = old
    return job.run.path, corpus


def damage(path, how, data):
    """Apply one generated kind of damage to one file."""
    if how == "delete":
        path.unlink(missing_ok=True)
    elif how == "folder":
        path.unlink(missing_ok=True)
        path.mkdir()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "truncate":
        raw = path.read_bytes() if path.exists() else b"{}"
        path.write_bytes(raw[: data.draw(st.integers(0, max(0, len(raw) - 1)))])
    elif how == "flip":
        raw = bytearray(path.read_bytes() if path.exists() else b'{"pid": 1}')
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
        path.write_bytes(bytes(raw))
    elif how == "garbage":
        path.write_bytes(data.draw(st.binary(max_size=64)))
    elif how == "json":
        path.write_text(json.dumps(data.draw(JSON_VALUES)))
    elif how == "field":  # one field of a JSON object set to a generated value of any type
        try:
            obj = json.loads(path.read_text())
        except (OSError, ValueError):
            obj = {"pid": 1, "host": "h"}
        if isinstance(obj, dict) and obj:
            key = data.draw(st.sampled_from(sorted(obj)))
            if isinstance(obj[key], dict) and obj[key] and data.draw(st.booleans()):
                obj[key][data.draw(st.sampled_from(sorted(obj[key])))] = data.draw(JSON_VALUES)
            else:
                obj[key] = data.draw(JSON_VALUES)
        path.write_text(json.dumps(obj))
    elif how in ("meta", "shape", "drop") and path.suffix == ".safetensors" and path.exists():
        from safetensors.torch import load, save

        raw = path.read_bytes()
        n = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8 : 8 + n])["__metadata__"]
        tensors = load(raw)
        if how == "meta":  # valid safetensors, odd metadata: our meta JSON replaced by any JSON
            header["meta"] = json.dumps(data.draw(JSON_VALUES))
        else:
            key = data.draw(st.sampled_from(sorted(tensors)))
            if how == "drop":
                del tensors[key]
            else:  # a tensor of another shape (a checkpoint of another model)
                import torch

                tensors[key] = torch.zeros(tuple(d + 1 for d in tensors[key].shape) or (2,))
        path.write_bytes(save(tensors, metadata=header))
    elif how == "bad-utf8-line":
        with open(path, "ab") as f:
            f.write(b'{"step": 3, "val_nll": 1.0\xff\xfe}\n')


def setup(home, template, data):
    src, _corpus = template
    for rid in ("good", "bad"):
        shutil.copytree(src, home / "runs" / rid)
    name = data.draw(st.sampled_from(FILES))
    how = data.draw(
        st.sampled_from(
            [
                "delete",
                "folder",
                "empty",
                "truncate",
                "flip",
                "garbage",
                "json",
                "field",
                "bad-utf8-line",
                "meta",
                "shape",
                "drop",
            ]
        )
    )
    damage(home / "runs" / "bad" / name, how, data)
    return name, how


def check_good_untouched(home):
    infos = {i.id: i for i in list_runs(home)}
    assert set(infos) == {"good", "bad"}
    good = infos["good"]
    assert good.status == "finished" and good.damaged is None and good.steps == 10
    assert isinstance(infos["bad"].status, str)
    if infos["bad"].status == "damaged":
        assert infos["bad"].damaged or infos["bad"].reason
    model, vocab = open_run(home, "good").load_model()
    assert len([s.char for s in generate(model, vocab, "the ", 5, seed=1)]) == 5


SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@SETTINGS
@given(data=st.data())
def test_listing_show_latest_and_delete_survive_any_damage(home, template, data):
    shutil.rmtree(home / "runs", ignore_errors=True)
    setup(home, template, data)
    check_good_untouched(home)
    bad = open_run(home, "bad")
    info = run_info(bad)
    json.dumps(info.to_json())  # what 'runs show' and 'runs --json' print
    types = {
        "id": str,
        "corpus": str,
        "cell": str,
        "size": str,
        "steps": int,
        "status": str,
        "updated": str,
        "created": str,
    }
    for field, kind in types.items():  # the table and the Runs screen format these
        assert isinstance(getattr(info, field), kind), (field, getattr(info, field))
    for field in ("best_val_ppl", "best_val_bpc"):
        assert getattr(info, field) is None or isinstance(getattr(info, field), (int, float))
    assert info.reason is None or isinstance(info.reason, str)
    from charlm_tui.cli.store import format_run_row

    format_run_row(info)
    bad.metrics()
    try:
        open_run(home, "latest")
    except CharLMError:
        pass
    try:
        delete_run(home, "bad")
    except CharLMError as e:  # a lock naming another machine's process: only a forced unlock breaks it
        assert "runs unlock bad --force" in str(e)
        bad.break_lock(force=True)
        delete_run(home, "bad")
    assert [i.id for i in list_runs(home)] == ["good"]


@settings(SETTINGS, max_examples=150)
@given(data=st.data())
def test_sample_eval_and_resume_end_cleanly_on_any_damage(home, template, data):
    from charlm_tui.core.model.sampling import SamplingControl
    from charlm_tui.core.store.compare import compare_runs

    shutil.rmtree(home / "runs", ignore_errors=True)
    setup(home, template, data)
    for which in ("best", "last"):
        try:
            model, vocab = open_run(home, "bad").load_model(which)
        except CharLMError:
            continue
        text = "".join(s.char for s in generate(model, vocab, "the cat", 20, SamplingControl(0.8), seed=1))
        assert len(text) == 20
    try:
        compare_runs(home, ["good", "bad"])
    except CharLMError:
        pass
    try:
        another_round(home, "bad")  # what 'train --resume' asks first
    except CharLMError:
        pass
    try:
        job = resume_job(home, "bad", {"max_steps": 12})
    except CharLMError:
        pass
    else:
        final = job.start()
        assert final.step >= 10
    check_good_untouched(home)


def test_a_hand_edited_model_too_big_for_memory_is_refused_before_anything_is_allocated(home, template, capsys):
    """hidden 60000 x 60 layers is within each limit; sample died with a torch allocation traceback
    and the app's stream hung at '● streaming'. Every load checks the model against memory."""
    from charlm_tui.cli.main import main

    src, _corpus = template
    dst = home / "runs" / src.name
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    cfg["model"].update(hidden_size=60000, num_layers=60)
    (dst / "config.json").write_text(json.dumps(cfg))
    assert main(["sample", src.name, "--prompt", "the "]) == 1
    err = capsys.readouterr().err
    assert "about" in err and "GiB to load, more than this machine has" in err and "Traceback" not in err
    [info] = list_runs(home)
    assert info.status == "damaged" and "GiB to load" in info.damaged
    with pytest.raises(CharLMError, match="GiB to load"):
        resume_job(home, src.name, {"max_steps": 20})
    with pytest.raises(CharLMError, match="GiB to load"):
        open_run(home, src.name).load_model("best")


@pytest.mark.parametrize("kind", ["zero", "fifo"])
def test_files_in_the_data_dir_that_are_devices_or_fifos_are_refused_not_read(home, template, kind, capsys):
    """A references-cache entry that was a symlink to /dev/zero exhausted memory; a FIFO hung
    'runs show'. Every read of the data dir goes through one bounded reader."""
    import os

    from charlm_tui.cli.main import main
    from charlm_tui.core.data.references import cache_path, cached

    src, _corpus = template
    dst = home / "runs" / src.name
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    sha = cfg["corpus"]["sha256"]
    vf = cfg["train"]["val_fraction"]

    def plant(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        if kind == "zero":
            path.symlink_to("/dev/zero")
        else:
            os.mkfifo(path)

    plant(cache_path(home, sha, vf))
    assert cached(home, sha, vf) is None  # counted as no entry; returns at once
    for name in ("control.json", "metrics.jsonl"):
        plant(dst / name)
    assert main(["runs", "show", src.name]) == 0
    capsys.readouterr()
    plant(dst / "status.json")
    [info] = list_runs(home)
    assert info.status == "damaged"
    plant(dst / "best.safetensors")
    with pytest.raises(CharLMError, match="not a regular file"):
        open_run(home, src.name).load_model("best")
