"""Reading a file from the data dir, which is untrusted: only a regular file, and only up to a size
that such a file can have. A symlink to /dev/zero, a FIFO or a huge file is refused with a message,
never read until memory runs out or waited on forever.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class NotAFileOfOurs(OSError):
    """The path is not a regular file, or is bigger than such a file can be (an OSError, so a
    caller that treats an unreadable cache as missing does the same with this)."""


def read_bounded(path: Path | str, limit: int, offset: int = 0, length: int | None = None) -> bytes:
    """The bytes of ``path`` from ``offset`` (``length`` of them at most), if it is a regular file
    of at most ``limit`` bytes.

    Opened without blocking (a FIFO opens at once and is then refused by its type); the size is
    checked on the open file, and the read stops at the limit whatever the file claims."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a device, FIFO or socket)"
            raise NotAFileOfOurs(errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL, kind, str(path))
        if st.st_size > limit:
            raise NotAFileOfOurs(
                errno.EFBIG, f"too big to be ours ({st.st_size:,} bytes, at most {limit:,})", str(path)
            )
        if offset:
            os.lseek(fd, offset, os.SEEK_SET)
        chunks, left = [], limit - offset + 1 if length is None else min(length, limit - offset + 1)
        while left > 0:
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        data = b"".join(chunks)
        if length is None and len(data) > limit - offset:
            raise NotAFileOfOurs(errno.EFBIG, f"too big to be ours (over {limit:,} bytes)", str(path))
        return data
    finally:
        os.close(fd)


def read_text_bounded(path: Path | str, limit: int) -> str:
    """``read_bounded`` decoded as UTF-8 (UnicodeDecodeError, a ValueError, if it is not)."""
    return read_bounded(path, limit).decode("utf-8")
