"""Browser mode is a local web server that any web page can try to reach: Host, Origin and a
per-launch token guard it, and no user text reaches the shell textual-serve runs."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys

import aiohttp

from charlm_tui.web import Guard, app_command, split_host
from tests.conftest import cli
from tests.tmux import wait


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_guard_decisions():
    g = Guard("127.0.0.1", 8000, token="secret")
    ok = dict(origin=None, query_token="secret", cookie_token=None)
    assert g.problem("/", "127.0.0.1:8000", **ok) is None
    assert g.problem("/", "localhost:9124", **ok) is None  # ssh -L to another local port
    assert g.problem("/", "[::1]:8000", **ok) is None
    assert "Host" in g.problem("/", "evil.example:8000", **ok)  # DNS rebinding
    assert "Host" in g.problem("/", None, **ok)
    assert "Host" in g.problem("/static/js/textual.js", "attacker.test", None, None, None)
    assert g.problem("/static/js/textual.js", "127.0.0.1:8000", None, None, None) is None
    assert "token" in g.problem("/ws", "127.0.0.1:8000", None, None, None)
    assert "token" in g.problem("/ws", "127.0.0.1:8000", None, "wrong", "also-wrong")
    assert g.problem("/ws", "127.0.0.1:8000", "http://127.0.0.1:8000", None, "secret") is None
    assert "may not drive" in g.problem("/ws", "127.0.0.1:8000", "https://evil.example", None, "secret")
    assert "may not drive" in g.problem("/ws", "127.0.0.1:8000", "null", None, "secret")
    assert "may not drive" in g.problem("/ws", "127.0.0.1:8000", "http://127.0.0.1:8001", None, "secret")
    assert split_host("[::1]:80") == ("::1", "80") and split_host("h:99999")[1] == "?"
    assert Guard("127.0.0.1", 1).token != Guard("127.0.0.1", 1).token  # per launch


def test_the_app_command_has_no_user_text():
    assert app_command().endswith(" -m charlm_tui") and "home" not in app_command()


def test_bad_ports_and_public_hosts_are_one_line_errors(home):
    r = cli("serve", "--host", "0.0.0.0", "--port", "1")
    assert r.returncode == 1 and "refusing to serve" in r.stderr
    r = cli("serve", "--port", "99999")
    assert r.returncode == 2 and "between 1 and 65535" in r.stderr and "Traceback" not in r.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = cli("serve", "--port", str(s.getsockname()[1]), timeout=60)
    assert r.returncode == 1 and "pick another --port" in r.stderr and "Traceback" not in r.stderr, r.stderr


async def _drive(port: int, token: str) -> dict:
    base = f"http://127.0.0.1:{port}"
    out: dict = {}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:  # cookies for an IP host
        async with s.get(f"{base}/") as r:
            out["no_token"] = r.status
        async with s.get(f"{base}/", headers={"Host": "rebind.attacker.test"}, params={"token": token}) as r:
            out["bad_host"] = r.status
        try:
            async with s.ws_connect(f"{base}/ws", headers={"Origin": "https://evil.example"},
                                    params={"token": token}):
                out["evil_ws"] = 101
        except aiohttp.WSServerHandshakeError as e:
            out["evil_ws"] = e.status
        async with s.get(f"{base}/", params={"token": token}) as r:  # the printed URL: sets the cookie
            out["page"] = r.status
            body = await r.text()
            out["ws_url_relative_to_host"] = f"ws://127.0.0.1:{port}/ws" in body
            out["static_local"] = f"http://127.0.0.1:{port}/static/" in body
        text = b""
        async with s.ws_connect(f"{base}/ws?width=100&height=30", headers={"Origin": base}) as ws:
            out["good_ws"] = 101
            loop = asyncio.get_running_loop()
            end = loop.time() + 60
            while loop.time() < end and b"spacey" not in text:
                try:
                    msg = await ws.receive(timeout=end - loop.time())
                except asyncio.TimeoutError:
                    break
                if msg.type == aiohttp.WSMsgType.BINARY:
                    text += msg.data
                elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
        out["app_painted_the_home_corpus"] = b"spacey" in text
    return out


def test_serve_checks_origin_host_and_token_and_runs_with_a_hostile_data_dir(tmp_path):
    home = tmp_path / "Application Support" / "$(touch PWNED)"  # a space, and a command substitution
    (home / "corpora").mkdir(parents=True)
    (home / "corpora" / "spacey.txt").write_text("a corpus in a data dir with a space in its path\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "charlm_tui", "--home", str(home), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                            start_new_session=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+)", line)
        assert m and int(m.group(1)) == port, line

        def listening():
            with socket.socket() as c:
                return c.connect_ex(("127.0.0.1", port)) == 0 or None
        wait(listening, 30, "the server to listen")
        out = asyncio.run(_drive(port, m.group(2)))
        assert out == {"no_token": 403, "bad_host": 403, "evil_ws": 403, "page": 200, "ws_url_relative_to_host": True,
                       "static_local": True, "good_ws": 101, "app_painted_the_home_corpus": True}
        assert not list(tmp_path.rglob("PWNED")) and not (tmp_path / "PWNED").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
