"""Checkpoint files: safetensors (never pickle) with JSON metadata in the header, written atomically.

Each file's header holds a sha256 of its payload (the tensors' bytes), checked on every load, so
weights changed on disk are a damaged checkpoint rather than a silently different model.
Loading parses the header ourselves first so that an empty, truncated, garbage, foreign or
future-version file gets an error naming the file and the problem; tensors always load on CPU.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from charlm_tui.core.atomic import write_bytes
from charlm_tui.core.bounded_read import NotAFileOfOurs, read_bounded
from charlm_tui.core.errors import CheckpointError

if TYPE_CHECKING:
    import torch

FORMAT = "charlm-tui"
FORMAT_VERSION = 1
MAX_HEADER = 100 << 20


def max_checkpoint_bytes() -> int:
    """No checkpoint is bigger than most of this machine's memory (it is read whole)."""
    from charlm_tui.core.config import memory_bytes

    return int(0.8 * memory_bytes())


def save(path: Path, tensors: dict[str, torch.Tensor], meta: dict, kind: str) -> None:
    from safetensors.torch import save as st_save

    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "kind": kind,
        "meta": json.dumps(meta, allow_nan=True),
    }
    cpu = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    # the payload (every tensor's bytes, after the header) does not depend on the header, so its
    # checksum can go into the header of the file that is written
    first = st_save(cpu, metadata=header)
    header["payload_sha256"] = hashlib.sha256(memoryview(first)[_payload_start(first) :]).hexdigest()
    write_bytes(path, st_save(cpu, metadata=header))


def _payload_start(data: bytes) -> int:
    (n,) = struct.unpack("<Q", data[:8])
    return 8 + n


def read_header(path: Path, data: bytes | None = None) -> dict:
    """Validate the safetensors header and our metadata; return the metadata dict."""
    if data is None:
        try:
            head = read_bounded(path, max_checkpoint_bytes(), length=8)
            if len(head) < 8:
                raise CheckpointError(f"{path}: empty or truncated checkpoint ({len(head)} bytes)")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER:
                raise CheckpointError(f"{path}: not a safetensors checkpoint (garbage header)")
            raw = read_bounded(path, max_checkpoint_bytes(), offset=8, length=n)
        except FileNotFoundError:
            raise CheckpointError(f"{path}: checkpoint missing") from None
        except NotAFileOfOurs as e:
            raise CheckpointError(f"{path}: {e.strerror}") from None
        except OSError as e:
            raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    else:
        if len(data) < 8:
            raise CheckpointError(f"{path}: empty or truncated checkpoint ({len(data)} bytes)")
        (n,) = struct.unpack("<Q", data[:8])
        if n > MAX_HEADER:
            raise CheckpointError(f"{path}: not a safetensors checkpoint (garbage header)")
        raw = data[8 : 8 + n]
    if len(raw) < n:
        raise CheckpointError(f"{path}: truncated checkpoint (header cut short)")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CheckpointError(
            f"{path}: not a safetensors checkpoint (unreadable header; corrupt or a "
            "different file format such as a pickle)"
        ) from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: not a safetensors checkpoint (bad header)")
    md = header.get("__metadata__") or {}
    if not isinstance(md, dict) or md.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a charlm-tui checkpoint (foreign safetensors file)")
    try:
        version = int(md.get("format_version", "0"))
    except (ValueError, TypeError):
        raise CheckpointError(f"{path}: bad format version {md.get('format_version')!r}") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written by a newer charlm-tui (format {version}, this one reads "
            f"{FORMAT_VERSION}); upgrade charlm-tui"
        )
    try:
        meta = json.loads(md.get("meta", "{}"))
    except (ValueError, TypeError, RecursionError):
        raise CheckpointError(f"{path}: corrupt checkpoint metadata") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: corrupt checkpoint metadata (not an object)")
    checksum = md.get("payload_sha256")
    return {"kind": md.get("kind"), "format_version": version, "meta": meta, "payload_sha256": checksum}


def load(path: Path, kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors on CPU, metadata). Raises CheckpointError for anything unusable."""
    from safetensors.torch import load as st_load

    try:
        data = read_bounded(path, max_checkpoint_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint missing") from None
    except NotAFileOfOurs as e:
        raise CheckpointError(f"{path}: {e.strerror}") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    info = read_header(path, data)
    if kind is not None and info["kind"] != kind:
        raise CheckpointError(f"{path}: holds a {info['kind']!r} checkpoint, expected {kind!r}")
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors raises its own error types for torn data
        raise CheckpointError(f"{path}: corrupt or truncated tensor data ({e})") from None
    # after parsing, so a torn file is called truncated; then whether the bytes are the ones saved
    expected = info["payload_sha256"]
    if expected is not None:  # checkpoints from before the checksum have none
        start = _payload_start(data)
        if hashlib.sha256(memoryview(data)[start:]).hexdigest() != expected:
            raise CheckpointError(
                f"{path}: damaged checkpoint: its tensor data does not match the checksum written with it "
                "(changed on disk since it was saved); use the other weights (best/last) or train again"
            )
    return tensors, info["meta"]
