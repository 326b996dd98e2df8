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

from charlm_tui.cli.web import Guard, app_command, split_host
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
    # the scheme must be the request's own (web.py's docstring said so; https was let through)
    assert "may not drive" in g.problem("/ws", "127.0.0.1:8000", "https://127.0.0.1:8000", None, "secret")
    assert g.problem("/ws", "127.0.0.1:8000", "https://127.0.0.1:8000", None, "secret", scheme="https") is None
    # a page inside another page (another port of this host is the same site: the cookie comes along)
    for dest in ("iframe", "frame", "embed", "object"):
        assert "inside another page" in g.problem("/", "127.0.0.1:8000", None, None, "secret", fetch_dest=dest)
    assert g.problem("/", "127.0.0.1:8000", None, None, "secret", fetch_dest="document") is None
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
    assert "token=" not in r.stdout + r.stderr  # the URL is printed only once the port is bound


async def _drive(port: int, token: str) -> dict:
    base = f"http://127.0.0.1:{port}"
    out: dict = {}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:  # cookies for an IP host
        async with s.get(f"{base}/") as r:
            out["no_token"] = r.status
        async with s.get(f"{base}/", headers={"Host": "rebind.attacker.test"}, params={"token": token}) as r:
            out["bad_host"] = r.status
        try:
            async with s.ws_connect(f"{base}/ws", headers={"Origin": "https://evil.example"}, params={"token": token}):
                out["evil_ws"] = 101
        except aiohttp.WSServerHandshakeError as e:
            out["evil_ws"] = e.status
        async with s.get(f"{base}/", params={"token": token}) as r:  # the printed URL: sets the cookie
            out["page"] = r.status
            out["no_framing"] = (r.headers.get("X-Frame-Options"), r.headers.get("Content-Security-Policy"))
            body = await r.text()
            out["ws_url_relative_to_host"] = f"ws://127.0.0.1:{port}/ws" in body
            out["static_local"] = f"http://127.0.0.1:{port}/static/" in body
            # offline: no web font host, and the font it names is served here
            out["font_local"] = "googleapis" not in body and "@font-face" in body
            font = re.search(r'url\("(http://[^"]+RobotoMono-VariableFont_wght\.ttf)"\)', body)
            async with s.get(font.group(1)) as f:
                out["font_served"] = f.status == 200 and len(await f.read()) > 10_000
        async with s.get(f"{base}/", headers={"Sec-Fetch-Dest": "iframe"}) as r:  # framed, with the cookie
            out["framed"] = r.status
        # ssh -L 9124:localhost:PORT: the browser says Host localhost:9124, and the page follows it
        async with s.get(f"{base}/", headers={"Host": "localhost:9124"}, params={"token": token}) as r:
            body = await r.text()
            out["forwarded_port"] = "ws://localhost:9124/ws" in body and "http://localhost:9124/static/" in body
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
    proc = subprocess.Popen(
        [sys.executable, "-m", "charlm_tui", "--home", str(home), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+)", line)
        assert m and int(m.group(1)) == port, line

        def listening():
            with socket.socket() as c:
                return c.connect_ex(("127.0.0.1", port)) == 0 or None

        wait(listening, 30, "the server to listen")
        out = asyncio.run(_drive(port, m.group(2)))
        assert out == {
            "no_token": 403,
            "bad_host": 403,
            "evil_ws": 403,
            "page": 200,
            "no_framing": ("DENY", "frame-ancestors 'none'"),
            "framed": 403,
            "ws_url_relative_to_host": True,
            "static_local": True,
            "font_local": True,
            "font_served": True,
            "forwarded_port": True,
            "good_ws": 101,
            "app_painted_the_home_corpus": True,
        }
        assert not list(tmp_path.rglob("PWNED")) and not (tmp_path / "PWNED").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    log = proc.stdout.read()
    assert '"GET /"' in log and m.group(2) not in log  # requests are logged, the token never


async def _start_training_then_close_the_tab(port: int, token: str, home) -> str:
    """What a browser does: open the page, connect, press keys; then the tab closes."""
    import json as _json

    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(f"{base}/", params={"token": token}) as r:
            assert r.status == 200
        async with s.ws_connect(f"{base}/ws?width=100&height=30", headers={"Origin": base}) as ws:

            async def screen_shows(needle: bytes, timeout: float = 60) -> None:
                seen, loop = b"", asyncio.get_running_loop()
                end = loop.time() + timeout
                while needle not in seen:
                    msg = await ws.receive(timeout=max(0.1, end - loop.time()))
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        seen += msg.data
                    elif msg.type != aiohttp.WSMsgType.TEXT:
                        raise AssertionError(f"the app went away: {msg.type}")

            await screen_shows(b"465,048")  # the Corpus screen describes the default corpus
            await ws.send_str(_json.dumps(["stdin", "\r"]))  # Configure
            await screen_shows(b"parameters")
            await ws.send_str(_json.dumps(["stdin", "\x13"]))  # ctrl+s: train
            loop = asyncio.get_running_loop()
            end = loop.time() + 90
            while loop.time() < end:
                running = [p for p in (home / "runs").glob("*/status.json") if '"running"' in p.read_text()]
                if running:
                    break
                await asyncio.sleep(0.2)
            assert running, "training did not start"
        # the websocket is closed: the tab is gone
    return running[0].parent.name


def test_closing_the_browser_tab_saves_and_stops_the_run(home):
    from charlm_tui.core.store.run_store import open_run

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "charlm_tui", "--home", str(home), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        m = re.search(r"token=([A-Za-z0-9_-]+)", proc.stdout.readline())

        def listening():
            with socket.socket() as c:
                return c.connect_ex(("127.0.0.1", port)) == 0 or None

        wait(listening, 30, "the server to listen")
        run_id = asyncio.run(_start_training_then_close_the_tab(port, m.group(1), home))
        run = open_run(home, run_id)
        st = wait(
            lambda: run.status() if run.status().get("status") != "running" else None,
            60,
            "the run to stop after the tab closed",
        )
        assert st["status"] == "stopped" and st["reason"] == "hangup", st
        assert (run.path / "last.safetensors").exists()
        wait(lambda: run.lock_holder() is None, 30, "the app process to end")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
