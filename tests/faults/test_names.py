"""User-given run ids, run names and corpus names never reach outside their folder."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charlm_tui.core.data.catalog import add_to_user_dir
from charlm_tui.core.errors import CharLMError, CorpusError, RunError
from charlm_tui.core.names import check_name, child, name_problem, safe_name
from charlm_tui.core.store.run_store import delete_run, open_run, rename_run
from tests.conftest import cli

# names built from the characters that make paths: separators, dots, globs, home, NUL, spaces
PIECES = st.sampled_from(list("ab01._-/\\~*?[]: \x00") + ["..", "../", "latest", "alpha", "/etc", "C:", "beta"])
HOSTILE = st.lists(PIECES, max_size=8).map("".join)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def make_home(home):
    for rid in ("alpha-1", "alpha-2", "beta"):
        (home / "runs" / rid).mkdir(parents=True, exist_ok=True)
    (home / "corpora").mkdir(exist_ok=True)
    (home / "corpora" / "keep.txt").write_text("keep me\n")
    outside = home.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "precious").write_text("x")
    return outside


def snapshot(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, ds, fs in os.walk(root) for f in fs + ds)


@SETTINGS
@given(name=HOSTILE)
def test_generated_run_ids_open_only_runs_inside_the_runs_folder(home, name):
    make_home(home)
    try:
        run = open_run(home, name)
    except RunError:
        return
    assert run.path.parent == home / "runs" and run.path.resolve().parent == (home / "runs").resolve()


@SETTINGS
@given(name=HOSTILE, new=HOSTILE)
def test_generated_names_never_delete_or_rename_outside(home, name, new):
    outside = make_home(home)
    before_outside, before_corpora = snapshot(outside), snapshot(home / "corpora")
    for action in (lambda: rename_run(home, name, new), lambda: delete_run(home, name)):
        try:
            action()
        except RunError:
            pass
    assert snapshot(outside) == before_outside and snapshot(home / "corpora") == before_corpora
    assert {p.parent for p in (home / "runs").iterdir()} <= {home / "runs"}
    assert all(name_problem(p.name, "run") is None for p in (home / "runs").iterdir())


@SETTINGS
@given(name=HOSTILE)
def test_generated_corpus_names_write_only_into_the_corpora_folder(home, tiny_file, name):
    outside = make_home(home)
    before = snapshot(outside)
    try:
        dest = add_to_user_dir(str(tiny_file), home, name=name, replace=True)
    except CorpusError:
        pass
    else:
        assert dest.parent == home / "corpora" and dest.name == f"{name}.txt"
    assert snapshot(outside) == before
    assert not (home / "runs" / f"{name}.txt").exists() if name_problem(name) else True


@given(text=st.text(max_size=300))
def test_safe_name_always_makes_a_valid_name(text):
    assert name_problem(safe_name(text)) is None


@pytest.mark.parametrize(
    "bad",
    ["", ".", "..", "../x", "a/b", "/abs", "latest", "LATEST", "a b", "a\x00", ".hidden", "x" * 101, "ends.", "-dash"],
)
def test_names_refused(bad):
    with pytest.raises(CharLMError):
        check_name(bad)


def test_child_refuses_a_link_that_points_outside(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "link").symlink_to(tmp_path)
    with pytest.raises(CharLMError, match="outside"):
        child(folder, "link")
    assert child(folder, "fine") == folder / "fine"


def test_cli_refuses_paths_and_reserved_names_and_touches_nothing(home):
    outside = make_home(home)
    before = snapshot(home.parent)
    for args in (
        ["runs", "delete", "../corpora"],
        ["runs", "delete", "../../outside"],
        ["runs", "delete", str(outside)],
        ["runs", "rename", "beta", "latest"],
        ["runs", "rename", "beta", "../beta"],
        ["corpora", "add", str(home / "corpora" / "keep.txt"), "--name", "../escaped"],
    ):
        r = cli(*args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("charlm-tui: error: ") and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert snapshot(home.parent) == before
