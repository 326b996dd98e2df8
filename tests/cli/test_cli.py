import json
import math

import pytest

from tests.conftest import TINY_CLI, cli

TINY = TINY_CLI + ["--max-steps", "10", "--seed", "1"]


def train_json(tiny_file, home):
    r = cli("train", str(tiny_file), "--home", str(home), "--json", *TINY, process=True)  # the real entry point
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    return lines


def test_train_json_sample_eval_runs(tiny_file, home):
    lines = train_json(tiny_file, home)
    evals = [x for x in lines if x["event"] == "eval"]
    summary = lines[-1]
    assert [e["step"] for e in evals] == [5, 10]
    assert {"val_nll", "val_ppl", "val_bpc", "lr", "train_loss"} <= set(evals[0])
    assert summary["event"] == "summary" and summary["steps"] == 10
    for k in ("run_id", "best_val_nll", "best_val_bpc", "best_val_ppl", "train_chars_per_s"):
        assert summary[k] is not None
    run_id = summary["run_id"]

    r = cli("sample", run_id, "--home", str(home), "--prompt", "the Ωcat", "--length", "40", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("the Ωcat") and len(r.stdout) == len("the Ωcat") + 40 + 1
    assert "1 prompt character(s) the model never saw were replaced: 'Ω'" in r.stderr
    again = cli("sample", run_id, "--home", str(home), "--prompt", "the Ωcat", "--length", "40", "--seed", "3")
    assert again.stdout == r.stdout

    r = cli("eval", run_id, "--home", str(home), "--json")
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    assert abs(ev["nll"] - summary["best_val_nll"]) < 1e-6 and abs(ev["ppl"] - summary["best_val_ppl"]) < 1e-4

    r = cli("runs", "--json", "--home", str(home))
    [row] = [json.loads(x) for x in r.stdout.splitlines()]
    assert row["id"] == run_id and row["status"] == "finished" and row["steps"] == 10
    assert {"corpus", "cell", "size", "best_val_ppl", "best_val_bpc", "updated"} <= set(row)
    r = cli("runs", "--home", str(home))
    assert run_id in r.stdout and "finished" in r.stdout

    r = cli("train", "--resume", run_id, "--max-steps", "15", "--home", str(home))
    assert r.returncode == 0, r.stderr
    assert "resuming at step 10" in r.stdout and "step     15" in r.stdout

    r = cli("runs", "delete", run_id, "--home", str(home))
    assert r.returncode == 0 and "deleted" in r.stdout
    assert cli("runs", "--json", "--home", str(home)).stdout == ""


def test_bad_arguments_are_one_line_exit_2():
    for args in (
        ["train", "x", "--batch-size", "0"],
        ["train", "x", "--cell", "transformer"],
        ["nope"],
        ["train", "x", "--lr", "fast"],
    ):
        r = cli(*args)
        assert r.returncode == 2, args
        assert len(r.stderr.strip().splitlines()) == 1 and "error:" in r.stderr, r.stderr


def test_user_errors_are_one_line_exit_1(tmp_path, home):
    cases = [
        (["train", str(tmp_path / "missing.txt")], "no such file or folder"),
        (["sample", "no-such-run"], "no run 'no-such-run'"),
        (["train"], "name a corpus to train on"),
        (["runs", "show"], "needs a run id"),
    ]
    (tmp_path / "one.txt").write_text("zzzz")
    cases.append((["train", str(tmp_path / "one.txt")], "only one distinct character"))
    (tmp_path / "a-file").write_text("not a folder")  # an unusable data dir: an OSError, not a traceback
    cases.append((["train", "python-docs", "--home", str(tmp_path / "a-file"), "--max-steps", "2"], "Not a directory"))
    for args, msg in cases:
        r = cli(*args)
        assert r.returncode == 1, (args, r.stderr)
        assert r.stderr.startswith("charlm-tui: error:") and msg in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_corpora_json_lists_builtins(home):
    r = cli("corpora", "--json", env={"CHARLM_TUI_CODE_MAX_BYTES": "50000"})
    assert r.returncode == 0, r.stderr
    rows = {x["name"]: x for x in map(json.loads, r.stdout.splitlines())}
    assert {"python-docs", "python-code"} <= set(rows)
    for k in ("name", "source", "chars", "vocab_size", "sha256"):
        assert k in rows["python-docs"]


def test_corpora_add_then_train_by_name(tiny_file, home):
    r = cli("corpora", "add", str(tiny_file), "--name", "mine")
    assert r.returncode == 0, r.stderr
    r = cli("corpora")
    assert "mine" in r.stdout
    r = cli("train", "mine", *TINY[:-4], "--max-steps", "5")
    assert r.returncode == 0, r.stderr


def test_cosine_schedule_from_the_command_line(tiny_file, home):
    r = cli(
        "train",
        str(tiny_file),
        "--home",
        str(home),
        "--json",
        *TINY,
        "--lr",
        "0.01",
        "--lr-schedule",
        "cosine",
        "--warmup-steps",
        "2",
    )
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    lrs = [x["lr"] for x in lines if x["event"] == "eval"]
    # the LR of the last step before each evaluation: steps 4 and 9 of a 10-step cosine from 0.01
    assert lrs[0] <= 0.01 * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * 4 / 10))) + 1e-12
    assert lrs[1] < lrs[0] and lrs[1] < 0.01 * 0.06
    cfg = json.loads(next((home / "runs").iterdir()).joinpath("config.json").read_text())
    assert cfg["train"]["lr_schedule"] == "cosine" and cfg["train"]["warmup_steps"] == 2
    r = cli("train", str(tiny_file), "--lr-schedule", "linear")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_preset_from_the_command_line_and_options_override_it(tiny_file, home):
    r = cli(
        "train",
        str(tiny_file),
        "--home",
        str(home),
        "--json",
        "--preset",
        "quick",
        "--hidden-size",
        "24",
        "--batch-size",
        "4",
        "--num-steps",
        "10",
        "--max-steps",
        "3",
        "--eval-every",
        "3",
    )
    assert r.returncode == 0, r.stderr
    cfg = json.loads(next((home / "runs").iterdir()).joinpath("config.json").read_text())
    assert cfg["model"]["embed_dim"] == 32 and cfg["model"]["hidden_size"] == 24  # preset, then the option
    assert cfg["train"]["lr_schedule"] == "cosine" and cfg["train"]["max_seconds"] == 120.0
    run_id = json.loads(r.stdout.splitlines()[-1])["run_id"]
    r = cli("train", "--resume", run_id, "--preset", "quick", "--home", str(home))
    assert r.returncode == 1 and "--preset applies to a new run" in r.stderr


def test_runs_show_and_compare_hold_each_run_against_its_corpus_references(tiny_file, home):
    from charlm_tui.core.data.catalog import resolve
    from charlm_tui.core.data.references import references_for

    ids = [train_json(tiny_file, home)[-1]["run_id"] for _ in range(2)]
    ref = references_for(resolve(str(tiny_file), home), 0.1, home)
    shown = json.loads(cli("runs", "show", ids[0], "--home", str(home), "--json").stdout)
    bpc = shown["best_val_bpc"]
    assert shown["references"] == {
        "uniform": round(ref.uniform, 4),
        "unigram": round(ref.unigram, 4),
        "5-gram": round(ref.ngram, 4),
        "xz": round(ref.xz, 4),
        "unit": "validation bits/char",
        "verdict": ref.verdict(bpc),
    }
    r = cli("runs", "compare", *ids, "--home", str(home))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[-3] == (
        f"references for tiny (validation bits/char): uniform {ref.uniform:.3f} · unigram {ref.unigram:.3f} · "
        f"5-gram {ref.ngram:.3f} · xz {ref.xz:.3f}"
    )
    assert lines[-2].split()[0] in ids and ("short of the 5-gram" in lines[-2] or "beats the 5-gram" in lines[-2])


def test_runs_compare_ranks_runs_and_shows_what_differs(home):
    from tests.core.test_compare import make_run

    make_run(home, "run-a", 128, 0.003, [(100, 60, 2.0), (200, 120, 1.7)])
    make_run(home, "run-b", 256, 0.003, [(100, 90, 1.9), (200, 180, 1.5)])
    r = cli("runs", "compare", "run-a", "run-b", "--home", str(home))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "RUN       PPL    BPC AT MIN   STEPS     HIDDEN",
        "run-b   4.482  2.164    3.0     205        256",
        "run-a   5.474  2.453    2.0     205        128",
        "run-b (no reference figures: its corpus is not available as it was)",
        "run-a (no reference figures: its corpus is not available as it was)",
    ]
    rows = [
        json.loads(line)
        for line in cli("runs", "compare", "run-a", "run-b", "--json", "--home", str(home)).stdout.splitlines()
    ]
    assert [(x["id"], x["best_val_nll"], x["settings"]["hidden"]) for x in rows] == [
        ("run-b", 1.5, 256),
        ("run-a", 1.7, 128),
    ]
    r = cli("runs", "compare", "run-a", "--home", str(home))
    assert r.returncode == 1 and "compare 2 to 4 runs at a time, not 1" in r.stderr


def test_resume_of_a_finished_run_trains_another_round_unless_limits_are_given(tiny_file, home):
    rid = train_json(tiny_file, home)[-1]["run_id"]
    steps = json.loads(cli("runs", "--json", "--home", str(home)).stdout.splitlines()[0])["steps"]
    r = cli("train", "--resume", rid, "--home", str(home))
    assert r.returncode == 0, r.stderr
    assert f"resuming: it had reached its step limit; training {steps} more steps" in r.stdout
    r = cli("train", "--resume", rid, "--max-steps", str(3 * steps + 1), "--json", "--home", str(home))
    assert "resuming:" not in r.stdout and json.loads(r.stdout.splitlines()[-1])["steps"] == 3 * steps + 1


def test_resume_latest_detached_is_resolved_once_by_the_parent(home, tiny_file, monkeypatch):
    """'latest' names the run it meant when the command was typed, even if another run starts
    before the background trainer reads its arguments."""
    from charlm_tui.cli import remote
    from charlm_tui.core.errors import CharLMError
    from charlm_tui.core.training.jobs import new_job
    from charlm_tui.core.training.trainer import TrainConfig

    ids = []
    for seed in (1, 2):
        job = new_job(
            home,
            str(tiny_file),
            {"cell": "gru", "embed_dim": 4, "hidden_size": 8, "num_layers": 1},
            TrainConfig(batch_size=4, num_steps=8, eval_every=5, max_steps=5, seed=seed),
        )
        job.start()
        ids.append(job.run.id)
    seen = {}

    class Exited:
        pid = 12345

        def poll(self):
            return 1

    def popen(argv, **kw):
        seen["argv"] = argv
        return Exited()

    with monkeypatch.context() as m, pytest.raises(CharLMError):
        m.setattr(remote.subprocess, "Popen", popen)
        remote.detach_train(["--resume", "latest", "--detach"], home, None, "latest", wait_s=2)
    from charlm_tui.core.store.run_store import open_run

    latest = open_run(home, "latest").id
    other = next(i for i in ids if i != latest)
    argv = seen["argv"]
    assert argv[argv.index("--resume-id") + 1] == latest
    # the background trainer resumes the run it was given, whatever 'latest' is by then
    r = cli("train", "--resume", "latest", "--resume-id", other, "--max-steps", "7", "--json", "--home", str(home))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["run_id"] == other


def test_fine_tune_from_the_command_line(tiny_file, home, tmp_path):
    parent = train_json(tiny_file, home)[-1]["run_id"]
    other = tmp_path / "other.txt"
    other.write_text("THE CAT SAT ON THE MAT!\n" * 60, encoding="utf-8")
    r = cli(
        "train",
        str(other),
        "--init-from",
        parent,
        "--last",
        "--max-steps",
        "5",
        "--eval-every",
        "5",
        "--batch-size",
        "4",
        "--num-steps",
        "10",
        "--home",
        str(home),
    )
    assert r.returncode == 0, r.stderr
    assert f"fine-tuning {parent} (last weights, lstm 1x16, embedding 8): vocabulary" in r.stdout
    child = json.loads(cli("runs", "show", "latest", "--home", str(home), "--json").stdout)
    assert child["parent"].startswith(f"{parent} (last weights") and child["lineage"][0]["run_id"] == parent
    for bad, says in (
        (["--init-from", parent, "--hidden-size", "64"], "leave out --hidden-size"),
        (["--init-from", "no-such-run"], "no run 'no-such-run'"),
        (["--last"], "--last goes with --init-from"),
    ):
        r = cli("train", str(other), *bad, "--home", str(home))
        assert r.returncode == 1 and says in r.stderr, r.stderr
    assert len(cli("runs", "--json", "--home", str(home)).stdout.splitlines()) == 2  # nothing more written


@pytest.mark.parametrize(
    "flag, value, says",
    [
        ("--lr", "1e30", "learning rate must be above 0 and at most 1"),
        ("--lr", "0", "learning rate must be above 0"),
        ("--clip", "1e300", "clip must be above 0 and at most 1e+12"),
        ("--max-seconds", "1e12", "max seconds must be above 0 and at most"),
    ],
)
def test_float_settings_are_bounded_to_what_a_person_could_mean(tiny_file, home, capsys, flag, value, says):
    """--lr 1e30 was accepted and trained to ppl inf."""
    from charlm_tui.cli.main import main

    with pytest.raises(SystemExit) as stop:  # refused by the parser, with core's own bounds and words
        main(["train", str(tiny_file), *TINY, flag, value])
    assert stop.value.code == 2
    assert says in capsys.readouterr().err
    assert not (home / "runs").exists() or not list((home / "runs").iterdir())


def test_huge_and_infinite_losses_read_as_such():
    from charlm_tui import formatting

    assert formatting.number(1.2345e32, ".3f") == "1.23e+32"
    assert formatting.number(math.inf, ".3f") == "inf"
    assert formatting.number(3.14159, ".3f") == "3.142"
    assert formatting.number(float("nan"), ".3f") == "-"


def _finished(home, tiny_file, capsys, *extra):
    from charlm_tui.cli.main import main

    assert main(["train", str(tiny_file), *TINY, *extra]) == 0
    return capsys.readouterr()


def test_train_starts_from_the_apps_default_preset_and_prints_a_sample_at_each_evaluation(home, tiny_file, capsys):
    """train without --preset trained the dataclass defaults (plateau, no weight decay, no time
    limit) while the app trained the default preset; char-rnn users expect a sample per evaluation."""
    from charlm_tui.core import sizing
    from charlm_tui.core.config import DEFAULT_PRESET, FIT_PRESET
    from charlm_tui.core.store.run_store import open_run

    assert DEFAULT_PRESET == FIT_PRESET
    out = _finished(home, tiny_file, capsys).out
    samples = [line for line in out.splitlines() if line.startswith("  sample: ")]
    assert len(samples) == 2 and all(len(s) > len("  sample: ") for s in samples)  # steps 5 and 10
    config = open_run(home, "latest").config
    cfg = config["train"]
    assert cfg["lr_schedule"] == "cosine" and cfg["weight_decay"] == sizing.WEIGHT_DECAY
    assert cfg["max_seconds"] == sizing.DEFAULT_BUDGET_S and cfg["eval_every"] == 5  # a flag overrides the fit
    # the tiny corpus gets the smallest shape (parameters at most 4 per training character)
    fitted = [line for line in out.splitlines() if line.startswith("fit to budget: 1 x 64 LSTM")]
    assert fitted and config["sizing"]["reason"] == fitted[0].removeprefix("fit to budget: ")
    assert config["sizing"]["budget_s"] == 300 and config["sizing"]["chosen"] == "1x64"
    assert config["model"]["hidden_size"] == 16 and config["train"]["batch_size"] == 4  # the options given win
    # and the reason line does not claim the choice's values for them: it says what was given
    given = [line for line in out.splitlines() if line.startswith("fit to budget: given instead: ")]
    assert given and "hidden 16" in given[0] and "batch 4" in given[0] and "eval every 5" in given[0]
    assert config["sizing"]["given"] == given[0].removeprefix("fit to budget: ")
    from charlm_tui.cli.main import main

    assert main(["runs", "show", "latest"]) == 0
    shown = capsys.readouterr().out
    assert "fitted    1 x 64 LSTM" in shown and "speeds    chars/s: 1x64 fp32 " in shown
    assert "          given instead: " in shown
    quiet = _finished(home, tiny_file, capsys, "--quiet").out
    assert "sample:" not in quiet and "step" in quiet


def test_sample_reads_its_prompt_from_a_file_or_stdin_and_greedy_prints_no_seed(home, tiny_file, capsys, monkeypatch):
    import io

    from charlm_tui.cli.main import main

    _finished(home, tiny_file, capsys)
    prompt = tiny_file.parent / "prompt.txt"
    prompt.write_text("the cat ", encoding="utf-8")
    assert main(["sample", "latest", "--prompt-file", str(prompt), "--length", "5", "--seed", "1"]) == 0
    assert capsys.readouterr().out.startswith("the cat ")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"the dog ")))
    assert main(["sample", "latest", "--prompt-file", "-", "--length", "5", "--temperature", "0"]) == 0
    got = capsys.readouterr()
    assert got.out.startswith("the dog ") and "seed" not in got.err  # greedy: no seed to repeat
    assert main(["sample", "latest", "--prompt-file", str(tiny_file.parent / "missing.txt")]) == 1
    assert "no such prompt file" in capsys.readouterr().err
    (tiny_file.parent / "bin.txt").write_bytes(b"\xff\xfe\x00")
    assert main(["sample", "latest", "--prompt-file", str(tiny_file.parent / "bin.txt")]) == 1
    assert "not UTF-8" in capsys.readouterr().err


def test_runs_show_reads_as_text_and_json_with_the_flag(home, tiny_file, capsys):
    from charlm_tui.cli.main import main

    _finished(home, tiny_file, capsys)
    assert main(["runs", "show", "latest"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("run       ") and "\nstatus    finished (max_steps)" in text and "last evaluations:" in text
    assert main(["runs", "show", "latest", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "finished"


def test_watch_shows_lr_cuts_and_patience_as_the_app_does(home, tiny_file, capsys):
    import io

    from charlm_tui.cli.remote import watch
    from charlm_tui.core.store.run_store import open_run

    _finished(home, tiny_file, capsys)
    run = open_run(home, "latest")
    lines = (run.path / "metrics.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    assert "patience_left" in last and last["lr_cut_from"] is None
    last.update(lr_cut_from=0.004, lr=0.002)
    (run.path / "metrics.jsonl").write_text("\n".join(lines[:-1] + [json.dumps(last)]) + "\n")
    out = io.StringIO()
    assert watch(home, run.id, out=out) == 0
    shown = out.getvalue()
    assert "patience left" in shown and "val ppl plateaued: LR cut 0.004 -> 0.002" in shown
