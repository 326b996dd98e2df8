"""Browser mode in a real browser (headless Chromium): a page on another port of the same host
cannot show the app in a frame, though that port is the same site and the token is in the URL."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading

import pytest

from tests.remote.test_serve import free_port
from tests.tmux import wait

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def headless(url: str, profile) -> str:
    """Load ``url`` in headless Chromium (no network beyond this machine) and return its DOM."""
    assert CHROMIUM, "this test needs Chromium (Debian: apt-get install chromium; .ci/run installs it)"
    args = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--virtual-time-budget=6000", "--dump-dom", url,
    ]  # fmt: skip
    return subprocess.run(args, capture_output=True, text=True, timeout=90).stdout


@pytest.fixture
def served(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "charlm_tui", "--home", str(tmp_path / "home"), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    line = proc.stdout.readline()
    m = re.search(r"\?token=([A-Za-z0-9_-]+)", line)
    assert m, line
    wait(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0 or None, 30, "the server to listen")
    log: list[str] = []

    def stop() -> str:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
        log.append(proc.stdout.read())
        return log[0]

    yield port, m.group(1), stop
    if not log:
        stop()


def test_another_port_of_this_host_cannot_frame_the_app(served, tmp_path):
    port, token, stop = served
    app_url = f"http://127.0.0.1:{port}/?token={token}"  # even with the token, the worst case
    page = f'<html><body><p>attacker</p><iframe src="{app_url}" width="800" height="600"></iframe></body></html>'

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    attacker = http.server.HTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        dom = headless(f"http://127.0.0.1:{attacker.server_port}/", tmp_path / "profile")
    finally:
        attacker.shutdown()
    assert "attacker" in dom  # the browser did load the page that frames the app
    log = stop()
    requests = re.findall(r'"GET (/\S*)" (\d+)', log)
    assert ("/", "403") in requests, log  # the framed page request was refused
    assert not [p for p, _s in requests if p.startswith("/ws")], log  # no app process was started
    assert token not in log


def test_the_app_loads_in_a_tab_of_its_own(served, tmp_path):
    """The control: the same browser opening the printed URL gets the page."""
    port, token, stop = served
    dom = headless(f"http://127.0.0.1:{port}/?token={token}", tmp_path / "profile")
    assert "textual" in dom.lower()
    requests = re.findall(r'"GET (/\S*)" (\d+)', stop())
    assert ("/", "200") in requests
