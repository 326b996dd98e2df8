"""Download a corpus over http(s) into the user corpora dir: streamed, capped, with a timeout."""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

from charlm_tui.core.atomic import atomic_writer
from charlm_tui.core.catalog import is_url
from charlm_tui.core.errors import CorpusError

DEFAULT_MAX_BYTES = 200 << 20
DEFAULT_TIMEOUT_S = 30.0




def name_for_url(url: str) -> str:
    parsed = urllib.parse.urlparse(url)
    last = Path(parsed.path).name or parsed.netloc
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", last).strip("-.") or "download"
    return safe if "." in safe else safe + ".txt"


def download(url: str, dest_dir: Path, filename: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES,
             timeout: float = DEFAULT_TIMEOUT_S,
             progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Fetch ``url`` into ``dest_dir/filename`` atomically. progress(bytes_done, bytes_total_or_None)."""
    if not is_url(url):
        raise CorpusError(f"{url}: only http:// and https:// URLs can be downloaded")
    dest = dest_dir / (filename or name_for_url(url))
    dest_dir.mkdir(parents=True, exist_ok=True)
    req = urllib.request.Request(url, headers={"User-Agent": "charlm-tui"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > max_bytes:
                raise CorpusError(f"{url}: too big ({total:,} bytes; the limit is {max_bytes:,})")
            done = 0
            with atomic_writer(dest) as out:
                while chunk := resp.read(1 << 16):
                    done += len(chunk)
                    if done > max_bytes:
                        raise CorpusError(f"{url}: too big (more than {max_bytes:,} bytes); download it "
                                          "yourself and add the file")
                    out.write(chunk)
                    if progress is not None:
                        progress(done, total)
    except urllib.error.HTTPError as e:
        raise CorpusError(f"{url}: download failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise CorpusError(f"{url}: download timed out after {timeout:g} s") from None
        raise CorpusError(f"{url}: download failed: {reason}") from None
    except (socket.timeout, TimeoutError):
        raise CorpusError(f"{url}: download timed out after {timeout:g} s") from None
    except OSError as e:
        raise CorpusError(f"{url}: download failed: {e}") from None
    return dest
