"""The damages a hostile or clumsy user made by hand, through the real CLI and the real app: each
damaged run is listed as damaged with its reason, and the healthy run beside it keeps working."""

from __future__ import annotations

import json
import shutil

import pytest

from charlm_tui.core.training.jobs import new_job
from charlm_tui.core.training.trainer import TrainConfig
from tests.conftest import cli

MODEL = {"cell": "lstm", "embed_dim": 4, "hidden_size": 8, "num_layers": 1, "dropout": 0.0}
DAMAGES = {  # run id -> (file, new content)
    "cfg-list": ("config.json", b"[1, 2, 3]"),
    "steps-many": ("status.json", None),
    "updated-5": ("status.json", None),
    "metrics-bytes": ("metrics.jsonl", None),
    "lock-abc": ("lock", b'{"pid": "abc", "host": "x"}'),
    "lock-empty": ("lock", b""),
}


@pytest.fixture
def damaged_home(home, tiny_file):
    cfg = TrainConfig(batch_size=4, num_steps=8, eval_every=5, max_steps=10, event_interval=1e9, seed=1)
    src = new_job(home, str(tiny_file), MODEL, cfg)
    src.start()
    good = home / "runs" / "good"
    src.run.path.rename(good)
    for rid, (name, content) in DAMAGES.items():
        shutil.copytree(good, home / "runs" / rid)
        p = home / "runs" / rid / name
        if rid == "steps-many":
            p.write_text(json.dumps({**json.loads(p.read_text()), "steps": "many"}))
        elif rid == "updated-5":
            p.write_text(json.dumps({**json.loads(p.read_text()), "updated": 5}))
        elif rid == "metrics-bytes":
            p.write_bytes(p.read_bytes() + b'{"step": 12, "val_nll": 1.\xff}\n' + p.read_bytes())
        else:
            p.write_bytes(content)
    # make the healthy run the newest, so 'latest' is it
    st = good / "status.json"
    st.write_text(json.dumps({**json.loads(st.read_text()), "updated": "2999-01-01T00:00:00+0000"}))
    cfgp = good / "config.json"
    cfgp.write_text(json.dumps({**json.loads(cfgp.read_text()), "created": "2999-01-01T00:00:00+0000"}))
    return home


def ok(r):
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    return r.stdout


def test_cli_lists_shows_samples_and_deletes_around_damaged_runs(damaged_home):
    rows = {json.loads(line)["id"]: json.loads(line) for line in ok(cli("runs", "--json")).splitlines()}
    assert set(rows) == {"good", *DAMAGES}
    assert rows["good"]["status"] == "finished" and rows["good"]["damaged"] is None
    assert rows["cfg-list"]["status"] == "damaged" and "expected a JSON object" in rows["cfg-list"]["damaged"]
    assert (
        rows["steps-many"]["status"] == "damaged"
        and "'steps' should be a number, got 'many'" in rows["steps-many"]["damaged"]
    )
    assert rows["updated-5"]["status"] == "damaged" and "'updated' should be text" in rows["updated-5"]["damaged"]
    assert rows["metrics-bytes"]["status"] == "finished"
    assert rows["lock-abc"]["status"] == rows["lock-empty"]["status"] == "finished"  # nobody holds a damaged lock
    table = ok(cli("runs"))
    assert all(rid in table for rid in rows)
    for rid in rows:
        shown = json.loads(ok(cli("runs", "show", rid, "--json")))
        assert shown["id"] == rid
    assert json.loads(ok(cli("runs", "show", "metrics-bytes", "--json")))["metrics_skipped"] == 1
    assert len(ok(cli("sample", "latest", "--length", "20", "--seed", "1"))) >= 20
    r = cli("sample", "cfg-list", "--length", "5")
    assert r.returncode == 1 and "expected a JSON object" in r.stderr and "Traceback" not in r.stderr
    assert "[damaged" in ok(cli("watch", "steps-many"))
    ok(cli("runs", "compare", "good", "metrics-bytes"))
    for rid in DAMAGES:
        assert "deleted run" in ok(cli("runs", "delete", rid))
    assert [json.loads(line)["id"] for line in ok(cli("runs", "--json")).splitlines()] == ["good"]


async def test_runs_screen_opens_with_damaged_runs_and_shows_each(damaged_home):
    from textual.widgets import DataTable

    from charlm_tui.tui.app import make_app
    from tests.tui.test_app import wait_for

    app = make_app(damaged_home)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: app.current_mode == "runs")
        screen = app.screen
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1 + len(DAMAGES))
        seen = set()
        for _ in range(table.row_count):  # select each row: its detail and chart are drawn
            seen.add(screen.selected_id())
            detail = str(screen.query_one("#runs-detail").render())
            if screen.selected_id() == "cfg-list":
                assert "expected a JSON object" in detail
            await pilot.press("down")
            await pilot.pause()
        assert seen == {"good", *DAMAGES}
        statuses = {str(table.get_row(rid)[2]) for rid in seen}  # columns: mark, run, status, ...
        assert any("damaged" in s for s in statuses) and any("finished" in s for s in statuses)
