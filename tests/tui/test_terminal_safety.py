"""Text from outside never acts on the terminal: an ESC (or BEL, a C1 control, a bidi override) in a
corpus, in what a model generates, in a file name or a hand-edited run file shows as a visible
stand-in, and whatever reaches the screen without one is removed where Textual turns lines into
terminal output (tui.terminal_guard). Checked on what the app would write to the terminal."""

import os
import pty
import subprocess
import sys

from rich.text import Text
from textual.widgets import Static

from charlm_tui.cli.store import format_run_row
from charlm_tui.core.store.run_store import RunInfo
from charlm_tui.formatting import printable
from charlm_tui.tui.app import make_app
from tests.conftest import TINY_CLI, cli
from tests.tui.test_app import wait_for

# clear the screen, set the window title, go red, ring, a C1 CSI (ESC [ in one byte), a bidi override
PAYLOAD = "\x1b[2J\x1b]0;PWNED\x07\x1b[31mred\x9b1m\u202eevil"
ACTING = ("\x1b[2J", "\x1b]0;", "\x1b[31mred", "\x07", "\x9b", "\u202e")


def terminal_output(app) -> str:
    """What the app writes to the terminal for a full redraw of its screen now."""
    return app.screen._compositor.render_full_update().render_segments(app.console)


def assert_inert(out: str) -> None:
    for seq in ACTING:
        assert seq not in out, f"{seq!r} reached the terminal"


def test_printable_maps_what_acts_on_a_terminal_to_visible_stand_ins():
    assert printable(PAYLOAD) == "␛[2J␛]0;PWNED␇␛[31mred\ufffd1m\ufffdevil"
    assert printable("a\x00b\x7fc\x08d") == "a␀b␡c␈d"
    assert printable("line one\r\nline two\n\tindented") == "line one\nline two\n\tindented"
    assert printable("ab\tc", tab_size=4) == "ab  c"
    text = "plain text, é, 漢字, emoji 🙂, a zero-width joiner 👩\u200d💻"
    assert printable(text) == text


async def test_a_corpus_with_escape_sequences_shows_them_and_the_terminal_ignores_them(home):
    (home / "corpora").mkdir()
    corpus = home / "corpora" / "term\x1b]0;NAME\x07.txt"  # a user corpus, named as it likes
    corpus.write_text(("the cat sat. " + PAYLOAD + "\n") * 30, encoding="utf-8")
    app = make_app(home, corpus_spec=corpus.stem)
    async with app.run_test(size=(100, 30)) as pilot:
        preview = app.screen.query_one("#corpus-preview")
        await wait_for(pilot, lambda: "PWNED" in str(preview.render()))
        await pilot.pause()
        out = terminal_output(app)
        assert_inert(out)
        assert "␛]0;PWNED␇" in out and "␛]0;NAME␇" in out  # shown, not obeyed


async def test_the_guard_removes_what_slipped_past_every_stand_in(home, corpus_file):
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "tiny" in str(app.screen.query_one("#corpus-stats").render()))
        await app.screen.mount(Static(Text("raw: " + PAYLOAD)))  # no stand-ins: straight to a widget
        await pilot.pause()
        out = terminal_output(app)
        assert_inert(out)
        assert "raw: [2J]0;PWNED[31mred1mevil" in out  # the text stays, the controls go


async def test_generated_escape_sequences_and_tabs_in_the_transcript(home, corpus_file):
    from tests.tui.test_generate import open_generate
    from tests.tui.test_remote_use import finished_run

    finished_run(home, corpus_file)
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_generate(pilot, app)
        tr = app.screen.query_one("#gen-transcript")
        tr.add_prompt("\x1b[2J", set())
        tr.add_generated([(c, 0.9) for c in "ab\tc" + PAYLOAD])
        await pilot.pause()
        out = terminal_output(app)
        assert_inert(out)
        first = tr.render_line(0).text.rstrip()
        assert first == "» ␛[2Jab" + " " * 8 + "c␛[2J␛]0;PWNED␇␛[31mred\ufffd1m\ufffdevil"  # the tab: to column 16
        assert "ab\tc\x1b[2J\x1b]0;PWNED" in tr.text.plain  # what is saved is what was generated


def test_the_runs_listing_shows_a_hand_edited_corpus_name_inert():
    info = RunInfo(
        id="r1", corpus="x\x1b]0;PWNED\x07", cell="lstm", size="1x8", steps=3, best_val_ppl=None,
        best_val_bpc=None, status="damaged", reason=None, updated="2026\x1b[2J", created="", damaged="bad \x9b1m",
    )  # fmt: skip
    row = format_run_row(info)
    assert_inert(row)
    assert "␛]0;PWNED␇" in row and "2026␛[2J" in row


def test_sample_to_a_terminal_shows_stand_ins_and_to_a_pipe_the_text_as_it_is(tmp_path, home):
    corpus = tmp_path / "ansi.txt"
    corpus.write_text("\x1b[31mred\x1b[0m and \x1b[32mgreen\x1b[0m\n" * 60, encoding="utf-8")
    args = ["--home", str(home)]
    r = cli("train", str(corpus), *args, *TINY_CLI, "--max-steps", "40", "--lr", "0.03", "--seed", "1")
    assert r.returncode == 0, r.stderr
    sample = ["sample", "latest", *args, "--prompt", "\x1b]0;PWNED\x07", "--length", "200", "--seed", "2"]

    piped = cli(*sample)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.startswith("\x1b]0;PWNED\x07") and "\x1b[" in piped.stdout  # unchanged into a pipe

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "charlm_tui", *sample], stdout=follower, stderr=subprocess.PIPE, env=os.environ.copy()
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the other end closed (Linux reports EIO)
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    out = b"".join(chunks).decode("utf-8")
    assert_inert(out)
    assert "\x1b" not in out and out.startswith("␛]0;PWNED␇") and "␛[" in out


async def test_brackets_from_outside_are_text_not_markup(home, tmp_path, corpus_file):
    """Textual reads "[...]" in a toast's message or a table's str cell as markup: "[/]" raised
    MarkupError (and closed the app), "[link=...]" made a hyperlink to anywhere."""
    import json

    from tests.tui.test_remote_use import finished_run

    run = finished_run(home, corpus_file)
    cfg = json.loads((run.path / "config.json").read_text())
    cfg["corpus"]["name"] = "[/]oops[link=https://evil.example]click[/link]"
    (run.path / "config.json").write_text(json.dumps(cfg))
    app = make_app(home, corpus_spec="tiny")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.press("a")
        app.screen.query_one("#corpus-add").value = str(tmp_path / "a[/]b" / "c.txt")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("a[/]b" in n.message for n in app._notifications))
        await pilot.pause(0.3)
        assert "a[/]b" in terminal_output(app)  # the toast, drawn as typed
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.current_mode == "runs")
        await pilot.pause()
        out = terminal_output(app)
        assert "[/]oops[link=https" in out and "\x1b]8;" not in out
        assert app.is_running


def test_a_cli_error_quoting_outside_text_shows_stand_ins(home, tmp_path):
    r = cli("train", str(tmp_path / "nope\x1b]0;PWNED\x07.txt"), "--home", str(home))
    assert r.returncode == 1
    assert "nope␛]0;PWNED␇.txt" in r.stderr and "\x1b" not in r.stderr
