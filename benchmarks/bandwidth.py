"""What the app costs a slow link: bytes per second it writes to its terminal, measured.

The real `charlm-tui` runs under a pseudo-terminal (100x30 unless --size) with its own data dir;
this script presses keys as a user would and counts every byte the app writes, per phase:

- idle:      the Corpus screen, nothing happening;
- training:  the Train screen while the default preset trains (charts, progress, events);
- streaming: the Generate screen, four streams of the default 500 characters at the default pace
  (400 chars/s); the bytes of each, and their median over the stream's 1.25 s.

Issue targets: training <= 10 KB/s, streaming <= 20 KB/s, idle ~0. `top -d 1` writes about
4 KB/s for comparison. One JSON line, with the machine it ran on.

    python benchmarks/bandwidth.py [--seconds 20] [--size 100x30]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import shutil
import statistics
import struct
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402

STREAMS = 4
STREAM_WAIT_S = 4.0  # a 500-character stream takes 1.25 s at 400/s; what it still draws after counts too


class Pty:
    """The app under a pseudo-terminal; a thread counts what it writes, with timestamps."""

    def __init__(self, argv: list[str], env: dict, cols: int, rows: int):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the app
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.chunks: list[tuple[float, int]] = []
        self.tail = b""
        self.lock = threading.Lock()
        dump = os.environ.get("BANDWIDTH_DUMP")  # a file to keep every byte the app wrote, for analysis
        self.dump = open(dump, "wb") if dump else None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            r, _, _ = select.select([self.fd], [], [], 0.5)
            if not r:
                continue
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.chunks.append((time.monotonic(), len(data)))
                if self.dump is not None:
                    self.dump.write(b"\n@@%.3f@@\n" % time.monotonic() + data)
                self.tail = (self.tail + data)[-200_000:]

    def send(self, keys: str, gap: float = 0.15) -> None:
        for k in keys if not keys.startswith("\x1b") else [keys]:
            os.write(self.fd, k.encode())
            time.sleep(gap)

    def bytes_between(self, t0: float, t1: float) -> int:
        with self.lock:
            return sum(n for t, n in self.chunks if t0 <= t < t1)

    def seen(self, text: str) -> bool:
        with self.lock:
            return text.encode() in self.tail

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.seen(text):
                return
            time.sleep(0.1)
        raise SystemExit(f"bandwidth benchmark: {text!r} never appeared on the app's screen")

    def measure(self, seconds: float) -> float:
        t0 = time.monotonic()
        time.sleep(seconds)
        return self.bytes_between(t0, time.monotonic()) / seconds

    def close(self) -> None:
        try:
            os.kill(self.pid, 15)
            os.waitpid(self.pid, 0)
        except OSError:
            pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each measured phase")
    ap.add_argument("--size", default="100x30")
    args = ap.parse_args()
    cols, rows = map(int, args.size.split("x"))
    exe = shutil.which("charlm-tui") or str(Path(sys.executable).parent / "charlm-tui")
    out: dict = {"benchmark": "bandwidth", "size": args.size, "seconds_each": args.seconds}
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "CHARLM_TUI_HOME": home, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
        app = Pty([exe], env, cols, rows)
        try:
            app.wait_for("465,048")  # the default corpus is described: the Corpus screen is up
            time.sleep(3.0)
            out["idle_bytes_per_s"] = round(app.measure(args.seconds), 1)
            app.send("\r")  # Enter: Configure (the default preset)
            app.wait_for("parameters")
            time.sleep(1.0)
            app.send("\x13")  # ctrl+s: start training
            runs = Path(home) / "runs"
            end = time.monotonic() + 60
            while time.monotonic() < end and not any(runs.glob("*/last.safetensors")):
                time.sleep(0.5)  # until the first evaluation: every panel has data
            out["training_bytes_per_s"] = round(app.measure(args.seconds), 1)
            app.send("s")  # stop (saves); then Generate on the run
            end = time.monotonic() + 60
            while time.monotonic() < end and not any('"stopped"' in p.read_text() for p in runs.glob("*/status.json")):
                time.sleep(0.3)
            time.sleep(1.0)
            app.send("4")
            time.sleep(2.0)
            per_stream = []
            for _ in range(STREAMS):  # default length and pace: 500 characters at 400/s, each
                app.send("The ")
                t0 = time.monotonic()
                app.send("\r")
                time.sleep(STREAM_WAIT_S)
                per_stream.append(app.bytes_between(t0, time.monotonic()))
            out["bytes_per_500_char_stream"] = per_stream
            out["streaming_bytes_per_s"] = round(statistics.median(per_stream) / (500 / 400), 1)
        finally:
            app.close()
    out["targets_bytes_per_s"] = {"training": 10_240, "streaming": 20_480, "idle": "~0"}
    out["machine"] = machine_info()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
