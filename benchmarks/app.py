"""How alive the app feels, measured.

1. first paint: wall time of a fresh process that opens the app and exits right after its first
   refresh, vs a bare Textual app doing the same (ratio);
2. keypress-to-screen latency while a default-size model trains in the app's worker (p50/p95),
   vs the same presses with nothing training;
3. training chars/s inside the running app vs headless training of the same config in this
   process (ratio; headless runs before and after, averaged).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

FIRST_PAINT = r"""
import sys, time
t0 = time.perf_counter()
if sys.argv[1] == "app":
    from charlm_tui.tui.app import CharLMApp as Base
    kw = {"home": sys.argv[2]}
else:
    from textual.app import App as Base
    kw = {}
class Probe(Base):
    def on_mount(self):
        if hasattr(super(), "on_mount"):
            super().on_mount()
        self.call_after_refresh(self.exit)
Probe(**kw).run(headless=True)
print(time.perf_counter() - t0)
"""

SECONDS = 20.0


def first_paint(home: str, which: str, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", FIRST_PAINT, which, home], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def headless_chars_per_s(home: Path, cfg, mk) -> float:
    from charlm_tui.core.jobs import new_job
    job = new_job(home, "python-docs", mk, replace(cfg, max_seconds=SECONDS))
    return job.start().chars_per_s


async def in_app(home: Path, cfg, mk, presses: int = 40) -> dict:
    from charlm_tui.tui.app import make_app
    app = make_app(home)
    app.model_kw, app.train_config = mk, replace(cfg, max_seconds=SECONDS)
    lat_idle, lat_busy = [], []
    async with app.run_test(size=(100, 30)) as pilot:
        while app.corpus is None:
            await pilot.pause(0.05)
        await pilot.press("4")  # Generate: ] updates the settings line
        for _ in range(presses):
            t = time.perf_counter()
            await pilot.press("right_square_bracket" if len(lat_idle) % 2 else "left_square_bracket")
            await pilot.pause()
            lat_idle.append(time.perf_counter() - t)
        app.start_training()
        while app.train_state.state in ("idle", "starting"):
            await pilot.pause(0.05)
        await pilot.press("3")  # watch the charts while training, like a user
        await pilot.pause(3.0)
        await pilot.press("4")
        for _ in range(presses):
            t = time.perf_counter()
            await pilot.press("right_square_bracket" if len(lat_busy) % 2 else "left_square_bracket")
            await pilot.pause()
            lat_busy.append(time.perf_counter() - t)
            await asyncio.sleep(0.1)
        await pilot.press("3")
        while app.train_state.state == "running":
            await pilot.pause(0.1)
        tui_cps = app.train_state.last.chars_per_s

    def pct(xs, q):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000
    return {"tui_chars_per_s": tui_cps, "key_ms_idle_p50": pct(lat_idle, 0.5), "key_ms_idle_p95": pct(lat_idle, 0.95),
            "key_ms_training_p50": pct(lat_busy, 0.5), "key_ms_training_p95": pct(lat_busy, 0.95)}


def main() -> None:
    from charlm_tui.core.config import PRESETS, TrainConfig
    mk, tk = PRESETS["default"]
    cfg = TrainConfig(**tk)
    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        app_paint = first_paint(d, "app")
        bare_paint = first_paint(d, "bare")
        h1 = headless_chars_per_s(home, cfg, mk)
        r = asyncio.run(in_app(home, cfg, mk))
        h2 = headless_chars_per_s(home, cfg, mk)
    headless = (h1 + h2) / 2
    print(json.dumps({"benchmark": "app", "first_paint_s": round(app_paint, 3), "bare_textual_first_paint_s": round(bare_paint, 3),
                      "first_paint_ratio_vs_bare": round(app_paint / bare_paint, 2),
                      "headless_chars_per_s": round(headless), "tui_chars_per_s": round(r["tui_chars_per_s"]),
                      "tui_vs_headless": round(r["tui_chars_per_s"] / headless, 3),
                      **{k: round(v, 1) for k, v in r.items() if k.startswith("key_ms")},
                      "train_seconds_each": SECONDS}))


if __name__ == "__main__":
    main()
