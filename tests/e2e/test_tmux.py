"""End to end: the installed `charlm-tui` in a real terminal (tmux): train a tiny run on the
default corpus, generate, quit; the process must exit and the run must be on disk."""

import json
import time

from charlm_tui.tui.screens.configure import FIELDS
from tests.tmux import Tmux, require_tmux_and_exe

T = Tmux("charlm-e2e")
# a run of about 3 seconds: the form's ids (max seconds shows as max minutes)
TINY = {
    "embed_dim": "16",
    "hidden_size": "32",
    "num_layers": "1",
    "dropout": "0",
    "batch_size": "8",
    "num_steps": "32",
    "eval_every": "20",
    "patience": "1000",
    "max_minutes": "0.05",
}


def test_train_generate_quit_in_tmux(tmp_path):
    exe = require_tmux_and_exe()
    home, exit_file = tmp_path / "home", tmp_path / "exit-code"
    T.start(f"CHARLM_TUI_HOME={home} {exe}; echo $? > {exit_file}; sleep 30")
    try:
        T.wait_screen("465,048")  # the default corpus, described
        T.keys("Enter")  # -> configure, focus on the presets (a digit there switches screens)
        T.wait_screen("parameters")
        T.keys(*["Tab"] * 6)  # past the six drop-downs to the first number, the embedding
        # the form's text boxes in the form's own order (a new setting must not shift the values)
        for fid in FIELDS:
            if fid in TINY:
                T.keys("End", "C-u", TINY[fid])
            T.keys("Tab")
        T.wait_screen("steps/epoch")
        T.keys("C-s")  # start training
        T.wait_screen("reached the time budget", timeout=240)
        T.keys("F5")  # generate
        T.wait_screen("temp 0.80")
        time.sleep(0.5)  # the prompt input takes focus once the screen is mounted
        T.keys("T", "h", "e", "Space", "PageUp")  # a real terminal's PgUp reaches the setting, not the box
        T.wait_screen("temp 0.90")
        T.keys("Enter")
        T.wait_screen("» The ", timeout=180)
        time.sleep(1)
        T.keys("C-q")
        for _ in range(100):
            if exit_file.exists():
                break
            time.sleep(0.1)
        assert exit_file.exists(), "the app did not exit after ctrl+q:\n" + T.screen()
        assert exit_file.read_text().strip() == "0"
    finally:
        T.kill()
    runs = list((home / "runs").iterdir())
    assert len(runs) == 1
    st = json.loads((runs[0] / "status.json").read_text())
    assert st["status"] == "finished" and st["reason"] == "max_seconds"
    assert (runs[0] / "best.safetensors").exists() and (runs[0] / "last.safetensors").exists()
    cfg = json.loads((runs[0] / "config.json").read_text())
    assert cfg["model"]["hidden_size"] == 32 and cfg["corpus"]["name"] == "python-docs"
    assert (cfg["model"]["embed_dim"], cfg["train"]["batch_size"], cfg["train"]["max_seconds"]) == (16, 8, 3.0)
