"""The Generate screen's sampling controls: keys that work while the prompt box has the focus,
the settings line, typed values, the seed and 'same again', best-of-N, and an honest Footer."""

from textual.widgets import Input

from charlm_tui.tui.app import make_app
from charlm_tui.tui.screens.dialogs import AskScreen
from charlm_tui.tui.screens.generate import BestOfScreen
from tests.tui.test_app import shown, wait_for
from tests.tui.test_remote_use import finished_run


def footer_keys(app) -> set[str]:
    """The keys the Footer offers now (the active bindings it draws)."""
    return {b.key for _, b, enabled, _ in app.active_bindings.values() if enabled and b.show}


def settings_line(app) -> str:
    return shown(app.screen.query_one("#gen-settings"))


async def open_generate(pilot, app):
    await pilot.press("f5")
    await wait_for(pilot, lambda: app.current_mode == "generate")
    await pilot.pause()
    return app.screen.query_one("#gen-prompt", Input)


async def stream(pilot, app, prompt=None, key="enter"):
    if prompt is not None:
        app.screen.query_one("#gen-prompt", Input).value = prompt
    await pilot.press(key)
    await wait_for(pilot, lambda: not app.generation.streaming and app.generation.settings.last_seed is not None)
    await pilot.pause(0.1)
    return app.screen.query_one("#gen-transcript").text.plain


async def test_settings_keys_work_while_the_prompt_has_the_focus(home, tiny_file):
    finished_run(home, tiny_file)
    app = make_app(home, corpus_spec=str(tiny_file))
    async with app.run_test(size=(100, 30)) as pilot:
        inp = await open_generate(pilot, app)
        s = app.generation.settings
        inp.value = "th"
        assert app.focused is inp
        await pilot.press("pageup")
        assert s.control.temperature == 0.9 and "▸temp 0.90" in settings_line(app)
        await pilot.press("ctrl+n", "ctrl+n", "pagedown", "pagedown")  # top-p: off -> 0.99 -> 0.98
        assert s.selected == "top_p" and s.control.top_p == 0.98 and "▸top-p 0.98" in settings_line(app)
        await pilot.press("ctrl+n", "pageup", "pageup", "f8", "pageup", "f8", "f8", "pageup")
        assert s.control.min_p == 0.02 and s.control.repetition_penalty == 1.05 and s.control.stop == ("\n\n",)
        assert "stop \\n\\n" in settings_line(app)  # shown escaped, on one line
        await pilot.press("f7", "f7", "f7", "f7", "f7", "f7", "f7")  # back round past the top
        assert s.selected == "weights"
        await pilot.press("pageup")
        assert s.weights == "last" and app.screen.query_one("#gen-weights").value == "last"
        assert inp.value == "th" and app.focused is inp  # nothing was typed, the focus never moved
        # the keys a prompt needs still type into it
        await pilot.press("[", "5", "q", "c")
        assert inp.value == "th[5qc" and app.current_mode == "generate"


async def test_escape_leaves_the_prompt_so_digits_switch_screens_and_the_footer_says_so(home, tiny_file):
    finished_run(home, tiny_file)
    app = make_app(home, corpus_spec=str(tiny_file))
    async with app.run_test(size=(100, 30)) as pilot:
        inp = await open_generate(pilot, app)
        keys = footer_keys(app)
        assert app.focused is inp and not keys & {"1", "5", "q", "question_mark"}  # they would be typed
        assert {"pageup", "ctrl+n", "ctrl+o", "ctrl+r"} <= keys
        await pilot.press("escape")  # no stream: leaves the box
        assert app.focused is None
        assert {"1", "5", "q"} <= footer_keys(app)
        await pilot.press("w")  # a single key works now
        assert app.generation.settings.weights == "last"
        await pilot.press("enter")  # back into the box
        assert app.focused is inp
        await pilot.press("escape", "5")
        await wait_for(pilot, lambda: app.current_mode == "runs")


async def test_typed_values_seed_and_same_again(home, tiny_file):
    finished_run(home, tiny_file)
    app = make_app(home, corpus_spec=str(tiny_file))
    async with app.run_test(size=(100, 30)) as pilot:
        await open_generate(pilot, app)
        s = app.generation.settings
        s.length, s.pace = 60, 0
        s.control.temperature = 1.0
        first = await stream(pilot, app, "th")
        seed = s.last_seed
        assert s.seed is None and f"seed new (last {seed})" in settings_line(app)
        await pilot.press("ctrl+r")  # same prompt, same seed: the same text again
        await wait_for(pilot, lambda: not app.generation.streaming)
        await pilot.pause(0.1)
        again = app.screen.query_one("#gen-transcript").text.plain
        assert again == first + "\n\n" + first and s.last_seed == seed
        # type a seed for the seed setting; the stream uses it and shows it
        while s.selected != "seed":
            await pilot.press("ctrl+n")
        await pilot.press("ctrl+t")
        assert isinstance(app.screen, AskScreen)
        app.screen.query_one(Input).value = "12345"
        await pilot.press("enter")
        assert s.seed == 12345 and "▸seed 12345" in settings_line(app)
        app.screen.query_one("#gen-transcript").clear()
        a = await stream(pilot, app, "th")
        app.screen.query_one("#gen-transcript").clear()
        b = await stream(pilot, app, "th")
        assert a == b and s.last_seed == 12345
        # a bad typed value is refused with the reason and changes nothing
        while s.selected != "top_p":
            await pilot.press("ctrl+n")
        await pilot.press("ctrl+t")
        app.screen.query_one(Input).value = "1.5"
        await pilot.press("enter")
        assert s.control.top_p == 1.0 and any("top-p" in n.message for n in app._notifications)
        # stop strings, typed with escapes; the stream ends at one and says so
        while s.selected != "stop":
            await pilot.press("ctrl+n")
        await pilot.press("ctrl+t")
        app.screen.query_one(Input).value = r"a | \n"
        await pilot.press("enter")
        assert s.control.stop == ("a", "\n")
        app.screen.query_one("#gen-transcript").clear()
        text = await stream(pilot, app, "t")
        assert text.endswith("[stop string]") and "a" not in text.split("\n")[0][3:]


async def test_best_of_n_shows_ranked_continuations_and_keeps_the_chosen_one(home, tiny_file):
    finished_run(home, tiny_file)
    app = make_app(home, corpus_spec=str(tiny_file))
    async with app.run_test(size=(100, 30)) as pilot:
        inp = await open_generate(pilot, app)
        s = app.generation.settings
        s.length, s.best_of = 40, 3
        inp.value = "th"
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, BestOfScreen))
        found = app.screen.candidates
        assert len(found) == 3 and [c.mean_logprob for c in found] == sorted(
            (c.mean_logprob for c in found), reverse=True
        )
        await pilot.press("down", "enter")  # keep the second
        await wait_for(pilot, lambda: not isinstance(app.screen, BestOfScreen))
        text = app.screen.query_one("#gen-transcript").text.plain
        assert f"» th{found[1].text}" in text and f"best-of-3 #2: {found[1].bits_per_char:.3f} bits/char" in text
        assert inp.value == "" and inp.history[-1] == "th"


async def test_a_load_that_fails_in_any_way_ends_the_stream_with_a_message(home, tiny_file, monkeypatch):
    """A torch allocation error while loading left '● streaming' with nothing and no error: only our
    own errors were caught in the worker."""
    finished_run(home, tiny_file)
    app = make_app(home, corpus_spec=str(tiny_file))

    def boom(run_id, which):
        raise RuntimeError("DefaultCPUAllocator: not enough memory")

    monkeypatch.setattr(app.generation, "load_model", boom)
    said: list[str] = []
    monkeypatch.setattr(app, "notify", lambda message, **kw: said.append(message))
    async with app.run_test(size=(100, 30)) as pilot:
        await open_generate(pilot, app)
        app.screen.query_one("#gen-prompt", Input).value = "th"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("sampling failed: RuntimeError" in m for m in said))
        await wait_for(pilot, lambda: not app.generation.streaming)
