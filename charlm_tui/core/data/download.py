"""Download a corpus over http(s) into the user corpora dir: streamed, capped, with a timeout."""

from __future__ import annotations

import codecs
import hashlib
import http.client
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from charlm_tui.core.atomic import atomic_writer
from charlm_tui.core.bounded_read import read_text_bounded
from charlm_tui.core.errors import CorpusError
from charlm_tui.core.names import safe_name

DEFAULT_MAX_BYTES = 200 << 20
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_DEADLINE_S = 600.0
BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def parse_url(url: str) -> urllib.parse.ParseResult:
    """``url`` parsed, or a CorpusError that names it: urllib raises ValueError for a torn IPv6
    host ('http://[::1') or a port that is not a number, which reached the user as a traceback."""
    try:
        parsed = urllib.parse.urlparse(url)
        _ = parsed.port  # a bad port is only found when asked for
    except ValueError as e:
        raise CorpusError(f"{url}: not a valid URL ({e})") from None
    return parsed


def name_for_url(url: str) -> str:
    """The file name a download is saved under: the URL's last path part, made safe."""
    parsed = parse_url(url)
    last = Path(parsed.path).name or parsed.netloc
    stem, dot, ext = last.rpartition(".")
    if not dot or not re.fullmatch(r"[A-Za-z0-9]{1,10}", ext):
        stem, ext = last, "txt"
    return f"{safe_name(stem, 'download')}.{ext}"


def source_file(path: Path) -> Path:
    """Where the URL a downloaded corpus came from is kept (hidden, beside it)."""
    return path.with_name(f".{path.name}.url")


def source_of(path: Path) -> str | None:
    try:
        return read_text_bounded(source_file(path), 64 << 10).strip() if path.is_file() else None
    except (OSError, UnicodeDecodeError):
        return None


def url_cache_path(url: str, folder: Path) -> Path:
    """The file a URL is cached in: its own name when that is free or already holds this URL, else
    the name with a hash of the URL, so two URLs with the same file name never share a file."""
    plain = folder / name_for_url(url)
    if not plain.exists() or source_of(plain) == url:
        return plain
    tag = hashlib.sha256(url.encode("utf-8")).hexdigest()[:10]
    return plain.with_name(f"{plain.stem}-{tag}{plain.suffix}")


def download(
    url: str,
    dest: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT_S,
    deadline: float = DEFAULT_DEADLINE_S,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Fetch ``url`` into ``dest`` atomically, or leave ``dest`` as it was.

    ``timeout`` bounds each wait for data and ``deadline`` the whole download (a server that
    trickles a byte at a time cannot hold it forever); a download shorter than its Content-Length,
    or one that is binary, is refused. progress(bytes_done, bytes_total_or_None)."""
    if not is_url(url):
        raise CorpusError(f"{url}: only http:// and https:// URLs can be downloaded")
    if not parse_url(url).hostname:
        raise CorpusError(f"{url}: no host in the URL")
    dest.parent.mkdir(parents=True, exist_ok=True)
    req = urllib.request.Request(url, headers={"User-Agent": "charlm-tui"})
    end = time.monotonic() + deadline
    try:
        with urllib.request.urlopen(req, timeout=min(timeout, deadline)) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > max_bytes:
                raise CorpusError(f"{url}: too big ({total:,} bytes; the limit is {max_bytes:,})")
            done = 0
            with atomic_writer(dest) as out:
                while chunk := resp.read1(1 << 16):
                    if done == 0 and looks_binary(chunk):
                        raise CorpusError(
                            f"{url}: the server sent binary data "
                            f"({resp.headers.get('Content-Type') or 'no content type'}), not text"
                        )
                    done += len(chunk)
                    if done > max_bytes:
                        raise CorpusError(
                            f"{url}: too big (more than {max_bytes:,} bytes); download it yourself and add the file"
                        )
                    out.write(chunk)
                    if progress is not None:
                        progress(done, total)
                    if time.monotonic() > end:
                        raise CorpusError(
                            f"{url}: download took longer than {deadline:g} s "
                            f"({done:,} bytes so far); try again or download it yourself"
                        )
                if total is not None and done < total:
                    raise CorpusError(f"{url}: the download was cut short ({done:,} of {total:,} bytes); try again")
                if done == 0:
                    raise CorpusError(f"{url}: the server sent nothing")
    except urllib.error.HTTPError as e:
        raise CorpusError(f"{url}: download failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise CorpusError(f"{url}: download timed out (no data for {timeout:g} s)") from None
        raise CorpusError(f"{url}: download failed: {reason}") from None
    except TimeoutError:
        raise CorpusError(f"{url}: download timed out (no data for {timeout:g} s)") from None
    except http.client.HTTPException as e:  # IncompleteRead, a torn chunked body, ...
        raise CorpusError(f"{url}: the download was cut short ({type(e).__name__}); try again") from None
    except OSError as e:
        raise CorpusError(f"{url}: download failed: {e.strerror or e}") from None
    return dest


def looks_binary(head: bytes) -> bool:
    """NUL bytes in text that does not start with a UTF-16/32 byte-order mark."""
    return b"\0" in head[:8192] and not head.startswith(BOMS)
