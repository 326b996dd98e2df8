"""`charlm-tui inspect`: the mean is eval's bits/char, the unit view, discovery, the page, bad input."""

from __future__ import annotations

import json

from tests.conftest import TINY_CLI, cli

TINY = TINY_CLI + ["--max-steps", "10", "--seed", "1"]


def trained(tiny_file, home) -> str:
    r = cli("train", str(tiny_file), "--home", str(home), "--json", *TINY)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])["run_id"]


def test_inspect_agrees_with_eval_and_shows_a_unit_and_the_page(tiny_file, home, tmp_path):
    run = trained(tiny_file, home)
    ev = json.loads(cli("eval", run, "--home", str(home), "--json").stdout)
    r = cli("inspect", run, "--home", str(home), "--json", "--unit", "0:3")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert abs(out["mean_bits"] - ev["bpc"]) < 1e-4 and out["what"].startswith("the validation text of")
    assert len(out["bits"]) == len(out["text"]) == len(out["unit"]["values"]) and out["bits"][0] is None
    assert out["unit"]["kind"] == "cell state" and set(out["references"]) >= {"uniform", "unigram", "xz"}
    page = tmp_path / "inside.html"
    r = cli("inspect", run, "--home", str(home), "--discover", "--html", str(page), "--color", "always")
    assert r.returncode == 0, r.stderr
    assert "bits/char" in r.stdout and "\x1b[30;48;2;" in r.stdout and "discovery:" in r.stdout
    assert "tracks" in r.stdout and page.read_text().startswith("<!DOCTYPE html>")


def test_inspect_a_file_without_colour_and_refuses_what_it_cannot_do(tiny_file, home, tmp_path, monkeypatch):
    run = trained(tiny_file, home)
    text = tmp_path / "mine.txt"
    text.write_text('new "words" \x1b[2J here\n' * 20, encoding="utf-8")
    monkeypatch.setenv("NO_COLOR", "1")
    r = cli("inspect", run, "--home", str(home), "--text", str(text), "--color", "always", "--chars", "50")
    assert r.returncode == 0, r.stderr
    assert "mine.txt: 440 chars" in r.stdout and "\x1b[2J" not in r.stdout and "␛[2J" in r.stdout
    assert "48;2;" not in r.stdout and "more characters" in r.stdout
    plain = cli("inspect", run, "--home", str(home), "--text", str(text))  # not a terminal: no escapes
    assert "\x1b[" not in plain.stdout
    bad = cli("inspect", run, "--home", str(home), "--unit", "9:0")
    assert bad.returncode != 0 and "unit 9:0 is not in this model" in bad.stderr
    bad = cli("inspect", run, "--home", str(home), "--unit", "x")
    assert bad.returncode == 2 and "LAYER:INDEX" in bad.stderr
    bad = cli("inspect", run, "--home", str(home), "--text", str(tmp_path / "missing.txt"))
    assert bad.returncode != 0 and "missing.txt: cannot read it" in bad.stderr
    bad = cli("inspect", run, "--home", str(home), "--html", str(tmp_path / "no" / "dir" / "x.html"))
    assert bad.returncode != 0 and "cannot write it" in bad.stderr
