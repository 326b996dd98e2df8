"""How alive the app feels, measured.

1. first paint: median wall time of a fresh process that opens the app and exits as soon as the
   first frame of its first screen (the Corpus screen) is written, vs a bare Textual app (ratio);
2. keypress-to-screen latency in a real terminal (tmux): time from `send-keys` until the change
   shows in `capture-pane` (opening/closing the help screen), with nothing training and while the
   default model trains in the app (p50/p95; includes ~5 ms of polling);
3. training chars/s inside the app (Train screen visible, charts live) vs headless training of
   the same config (`charlm-tui train`), alternated ROUNDS times, each in a fresh process
   (torch work on two threads of one process slows the second: measuring both in one process
   would measure that, not the app); medians and their ratio.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_PAINT = r"""
import os, sys
if sys.argv[1] == "app":
    import charlm_tui.tui.app as mod
    Base, kw = mod.CharLMApp, {"home": sys.argv[2]}
    css = os.path.join(os.path.dirname(mod.__file__), "app.tcss")  # a subclass resolves CSS_PATH next to itself
else:
    from textual.app import App as Base
    kw, css = {}, None
class Probe(Base):
    CSS_PATH = css
    painted = None
    def _display(self, screen, renderable):  # the first frame of the first real screen ends the probe
        super()._display(screen, renderable)
        if self.painted is None and renderable is not None:
            self.painted = type(screen).__name__
            self.exit()
app = Probe(**kw)
app.run(headless=True)
print("PAINTED", app.painted)  # an app that fails to start still exits 0: the caller checks this line
"""

TRAIN_S = 15.0
ROUNDS = 3
SESSION = "charlm-bench"


def first_paint(home: str, which: str, n: int = 7) -> float:
    probe = Path(home) / "first_paint_probe.py"  # a file, not -c: Textual resolves CSS next to the source
    probe.write_text(FIRST_PAINT)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, str(probe), which, home], check=True, capture_output=True, text=True)
        want = "PAINTED CorpusScreen" if which == "app" else "PAINTED Screen"
        if want not in r.stdout:
            raise SystemExit(f"first-paint probe ({which}) did not paint: {r.stdout[-2000:]}{r.stderr[-2000:]}")
        times.append(time.perf_counter() - t)
    return statistics.median(times)


TUI_RUN = r"""
import asyncio, json, sys
from dataclasses import replace
from pathlib import Path
from charlm_tui.core.config import PRESETS, TrainConfig
from charlm_tui.tui.app import make_app

async def main():
    mk, tk = PRESETS["default"]
    app = make_app(Path(sys.argv[1]))
    app.training.model_kw, app.training.config = mk, replace(TrainConfig(**tk), max_seconds=float(sys.argv[2]))
    async with app.run_test(size=(100, 30)) as pilot:
        while app.corpora.corpus is None:
            await pilot.pause(0.05)
        app.training.start()
        while app.training.live.state in ("idle", "starting", "running"):
            await asyncio.sleep(0.2)
        print(json.dumps({"chars_per_s": app.training.live.last.chars_per_s}))
asyncio.run(main())
"""


def headless_chars_per_s(home: Path) -> float:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "charlm_tui",
            "train",
            "python-docs",
            "--home",
            str(home),
            "--max-seconds",
            str(TRAIN_S),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(r.stdout.splitlines()[-1])["train_chars_per_s"]


def tui_chars_per_s(home: Path) -> float:
    probe = home / "tui_probe.py"
    probe.write_text(TUI_RUN)
    r = subprocess.run(
        [sys.executable, str(probe), str(home), str(TRAIN_S)], capture_output=True, text=True, check=True
    )
    return json.loads(r.stdout.splitlines()[-1])["chars_per_s"]


def _tmux(*a: str) -> str:
    return subprocess.run(["tmux", *a], capture_output=True, text=True).stdout


def _until(pred, timeout=60.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if pred(_tmux("capture-pane", "-p", "-t", SESSION)):
            return time.perf_counter() - t0
        time.sleep(0.002)
    raise RuntimeError("screen did not change:\n" + _tmux("capture-pane", "-p", "-t", SESSION))


def _key_latencies(n: int) -> list[float]:
    """Type into the Generate prompt: a character appears, then BackSpace removes it."""
    out = []
    for _ in range(n):
        _tmux("send-keys", "-t", SESSION, "Q")
        out.append(_until(lambda s: "prompt, then Enter" not in s))  # the placeholder gives way to the text
        _tmux("send-keys", "-t", SESSION, "BSpace")
        out.append(_until(lambda s: "prompt, then Enter" in s))
        time.sleep(0.1)
    return out


def tmux_latency(home: Path, presses: int = 25) -> dict:
    exe = Path(sys.executable).parent / "charlm-tui"
    _tmux("kill-session", "-t", SESSION)
    _tmux("new-session", "-d", "-s", SESSION, "-x", "100", "-y", "30", f"CHARLM_TUI_HOME={home} {exe}")
    try:
        _until(lambda s: "465,048" in s)
        _tmux("send-keys", "-t", SESSION, "F5")
        _until(lambda s: "prompt, then Enter" in s)
        idle = _key_latencies(presses)
        _tmux("send-keys", "-t", SESSION, "F2")
        _until(lambda s: "465,048" in s)
        _tmux("send-keys", "-t", SESSION, "Enter")
        _until(lambda s: "parameters" in s)
        _tmux("send-keys", "-t", SESSION, "C-s")
        _until(lambda s: "running" in s and "chars/s" in s)
        _tmux("send-keys", "-t", SESSION, "F5")
        _until(lambda s: "prompt, then Enter" in s)
        time.sleep(1.0)
        busy = _key_latencies(presses)
        _tmux("send-keys", "-t", SESSION, "F4")
        _tmux("send-keys", "-t", SESSION, "C-q")
        _until(lambda s: "Stop it" in s)
        _tmux("send-keys", "-t", SESSION, "y")
        time.sleep(2)
    finally:
        _tmux("kill-session", "-t", SESSION)

    def pct(xs, q):
        xs = sorted(xs)
        return round(1000 * xs[min(len(xs) - 1, int(q * len(xs)))], 1)

    return {
        "key_ms_idle_p50": pct(idle, 0.5),
        "key_ms_idle_p95": pct(idle, 0.95),
        "key_ms_training_p50": pct(busy, 0.5),
        "key_ms_training_p95": pct(busy, 0.95),
    }


def main() -> None:
    out: dict = {"benchmark": "app"}
    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        app_paint, bare_paint = first_paint(d, "app"), first_paint(d, "bare")
        out.update(
            first_paint_s=round(app_paint, 3),
            bare_textual_first_paint_s=round(bare_paint, 3),
            first_paint_ratio_vs_bare=round(app_paint / bare_paint, 2),
        )
        if shutil.which("tmux"):
            out.update(tmux_latency(home / "tmux"))
        heads, tuis = [], []
        for _ in range(ROUNDS):
            heads.append(headless_chars_per_s(home))
            tuis.append(tui_chars_per_s(home))
    h, t = statistics.median(heads), statistics.median(tuis)
    out.update(
        headless_chars_per_s=round(h),
        tui_chars_per_s=round(t),
        tui_vs_headless=round(t / h, 3),
        rounds=ROUNDS,
        train_seconds_each=TRAIN_S,
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
