"""Browser mode: textual-serve behind the checks a local web server needs.

A page on any web site, open in the user's browser, can try to reach ``127.0.0.1:PORT``, so
binding to loopback is not enough. Every request is checked here:

- **Host**: the hostname must be the served one (a loopback name when bound to loopback), which
  stops DNS rebinding; any port is accepted, so ``ssh -L 9000:localhost:8000`` works;
- **Origin**: when a browser sends one, it must be this page's own origin (the request's scheme
  and Host);
- **frames**: no page may show the app inside itself (another port of this host is the same site,
  so the cookie would come along): a framed request (Sec-Fetch-Dest) is refused, and every
  response says ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``;
- **token**: a random per-launch token, in the URL the command prints (as Jupyter does). The page
  request carries it once and gets it back as an HttpOnly, SameSite=Strict cookie for the
  websocket; the app's page, websocket and downloads need it, the static files do not.

The access log leaves query strings out (the token is one). The app's process is started without user text in its command line: the data dir travels in the
environment (``CHARLM_TUI_HOME``), never through the shell that textual-serve uses.

The page works offline: textual-serve's page takes its font from a public web font host (boxes
for every glyph without a network); ours declares the Roboto Mono files that textual-serve ships
in its static folder instead.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import secrets
import shlex
import sys
import urllib.parse
from pathlib import Path

from charlm_tui.paths import HOME_ENV

TOKEN_PARAM = "token"
FRAMED = ("iframe", "frame", "embed", "object", "fencedframe")  # Sec-Fetch-Dest of a page inside a page
# sent with every response: no page may frame this one (browsers without Sec-Fetch-Dest obey these)
NO_FRAMING = {"Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY"}
LOOPBACK_NAMES = ("localhost", "localhost.", "ip6-localhost")


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_host(hostport: str) -> tuple[str, str]:
    """('127.0.0.1', '8000') from '127.0.0.1:8000'; IPv6 in brackets keeps its colons."""
    parsed = urllib.parse.urlsplit("//" + hostport)
    try:
        port = str(parsed.port or "")
    except ValueError:
        port = "?"
    return (parsed.hostname or "").lower(), port


class Guard:
    """Decides whether a request may reach the app (no aiohttp here: easy to test on its own)."""

    def __init__(self, host: str, port: int, token: str | None = None):
        self.host = host.lower().strip("[]")
        self.port = port
        self.token = token or secrets.token_urlsafe(24)
        self.cookie = f"charlm-tui-token-{port}"

    def host_ok(self, host_header: str | None) -> bool:
        name, port = split_host(host_header or "")
        if not name or port == "?":
            return False
        if is_loopback(self.host):
            return is_loopback(name)
        # --public: the bound address; a wildcard bind cannot know its names (the token still guards)
        return self.host in ("0.0.0.0", "::") or name == self.host

    def token_ok(self, supplied: str | None) -> bool:
        return supplied is not None and supplied != "" and hmac.compare_digest(supplied.encode(), self.token.encode())

    def problem(
        self,
        path: str,
        host_header: str | None,
        origin: str | None,
        query_token: str | None,
        cookie_token: str | None,
        scheme: str = "http",
        fetch_dest: str | None = None,
    ) -> str | None:
        """Why this request is refused (None if it may go on). ``scheme`` is the request's own;
        ``fetch_dest`` the browser's Sec-Fetch-Dest header."""
        if not self.host_ok(host_header):
            return f"refused: Host {host_header!r} is not the address charlm-tui serves"
        if origin is not None:
            o = urllib.parse.urlsplit(origin)
            if o.scheme != scheme or o.netloc.lower() != (host_header or "").lower():
                return f"refused: requests from {origin!r} may not drive charlm-tui"
        if fetch_dest in FRAMED:
            # another page (another port of this host is the same site, so the cookie comes along)
            # must not show the app inside itself: it could trick clicks and keys into it
            return "refused: charlm-tui is not shown inside another page; open its URL in a tab of its own"
        if path.startswith("/static/"):
            return None
        if not (self.token_ok(query_token) or self.token_ok(cookie_token)):
            return "refused: open the URL with the token that 'charlm-tui serve' printed"
        return None


WEB_FONT_LINK = re.compile(r"<link[^>]*fonts\.googleapis\.com[^>]*>", re.S)
LOCAL_FONTS = """<style>
      @font-face { font-family: "Roboto Mono"; font-style: normal; font-weight: 100 700;
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype"); }
      @font-face { font-family: "Roboto Mono"; font-style: italic; font-weight: 100 700;
        src: url("{{ config.static.url }}fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype"); }
    </style>"""


def offline_index(template: str) -> str:
    """textual-serve's page template with its web-font link replaced by the fonts it ships."""
    return WEB_FONT_LINK.sub(lambda _m: LOCAL_FONTS, template)


def app_command() -> str:
    """The command textual-serve runs (through a shell) for each browser tab: no user text in it."""
    return f"{shlex.quote(sys.executable)} -m charlm_tui"


def make_server(home: Path, host: str, port: int, guard: Guard | None = None):
    """A textual-serve Server with the guard in front of every route."""
    import asyncio
    import contextlib
    import signal

    import aiohttp_jinja2
    import jinja2
    from aiohttp import web
    from aiohttp.abc import AbstractAccessLogger
    from textual_serve.server import Server, to_int

    the_guard = guard or Guard(host, port)
    os.environ[HOME_ENV] = str(home)  # the app processes inherit it; nothing is quoted into a shell

    class GuardedServer(Server):
        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(self._guard)
            index = (Path(self.templates_path) / "app_index.html").read_text("utf-8")
            aiohttp_jinja2.setup(
                app,
                loader=jinja2.ChoiceLoader(
                    [
                        jinja2.DictLoader({"app_index.html": offline_index(index)}),
                        jinja2.FileSystemLoader(self.templates_path),
                    ]
                ),
            )
            return app

        @web.middleware
        async def _guard(self, request: web.Request, handler):
            query_token = request.query.get(TOKEN_PARAM)
            problem = the_guard.problem(
                request.path,
                request.headers.get("Host"),
                request.headers.get("Origin"),
                query_token,
                request.cookies.get(the_guard.cookie),
                scheme=request.scheme,
                fetch_dest=request.headers.get("Sec-Fetch-Dest"),
            )
            if problem:
                return web.Response(status=403, text=problem + "\n", headers=NO_FRAMING)
            response = await handler(request)
            if not response.prepared:  # a websocket has sent its headers already
                response.headers.update(NO_FRAMING)
            if the_guard.token_ok(query_token):
                response.set_cookie(the_guard.cookie, the_guard.token, httponly=True, samesite="Strict", path="/")
            return response

        def serve(self, debug: bool = False) -> None:
            """textual-serve's serve, with the address printed once the port is bound (a port in
            use printed the URL and token, then failed) and an access log without query strings
            (the token was in every logged request line)."""
            self.debug = debug
            self.initialize_logging()
            try:
                loop = asyncio.get_event_loop()
            except Exception:
                loop = asyncio.new_event_loop()
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signal.SIGINT, self.request_exit)
                loop.add_signal_handler(signal.SIGTERM, self.request_exit)
            web.run_app(
                self._make_app(),
                host=self.host,
                port=self.port,
                handle_signals=False,
                loop=loop,
                access_log_class=PathOnlyAccessLogger,
                print=lambda *_a: announce(),
            )

        @aiohttp_jinja2.template("app_index.html")
        async def handle_index(self, request: web.Request) -> dict:
            # URLs relative to the address the browser used (checked above), so a forwarded port works
            base = f"{request.scheme}://{request.host}"
            ws = ("wss" if request.scheme == "https" else "ws") + f"://{request.host}"
            return {
                "font_size": to_int(request.query.get("fontsize", "16"), 16),
                "app_websocket_url": ws + str(request.app.router["websocket"].url_for()),
                "config": {"static": {"url": base + "/static/"}},
                "application": {"name": self.title},
            }

        async def on_startup(self, app: web.Application) -> None:
            pass  # the address is printed once the port is bound (serve's announce)

    def announce() -> None:
        print(
            f"serving charlm-tui at {url_for(host, port, the_guard.token)}\n"
            f"  (from another machine: ssh -L {port}:localhost:{port} HOST, then open that URL; "
            "Ctrl+C stops)",
            flush=True,
        )

    class PathOnlyAccessLogger(AbstractAccessLogger):
        """One line per request with its path and never its query string, which holds the token."""

        def log(self, request, response, time: float) -> None:
            self.logger.info('%s "%s %s" %s', request.remote, request.method, request.path, response.status)

    return GuardedServer(app_command(), host=host, port=port, title="charlm-tui"), the_guard


def url_for(host: str, port: int, token: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?{TOKEN_PARAM}={token}"
