"""Checkpoint files: safetensors (never pickle) with JSON metadata in the header, written atomically.

Loading parses the header ourselves first so that an empty, truncated, garbage, foreign or
future-version file gets an error naming the file and the problem; tensors always load on CPU.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from charlm_tui.core.atomic import write_bytes
from charlm_tui.core.errors import CheckpointError

if TYPE_CHECKING:
    import torch

FORMAT = "charlm-tui"
FORMAT_VERSION = 1
MAX_HEADER = 100 << 20


def save(path: Path, tensors: dict[str, torch.Tensor], meta: dict, kind: str) -> None:
    from safetensors.torch import save as st_save

    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "kind": kind,
        "meta": json.dumps(meta, allow_nan=True),
    }
    cpu = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    write_bytes(path, st_save(cpu, metadata=header))


def read_header(path: Path, data: bytes | None = None) -> dict:
    """Validate the safetensors header and our metadata; return the metadata dict."""
    if data is None:
        try:
            with open(path, "rb") as f:
                head = f.read(8)
                if len(head) < 8:
                    raise CheckpointError(f"{path}: empty or truncated checkpoint ({len(head)} bytes)")
                (n,) = struct.unpack("<Q", head)
                if n > MAX_HEADER:
                    raise CheckpointError(f"{path}: not a safetensors checkpoint (garbage header)")
                raw = f.read(n)
        except FileNotFoundError:
            raise CheckpointError(f"{path}: checkpoint missing") from None
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
    return {"kind": md.get("kind"), "format_version": version, "meta": meta}


def load(path: Path, kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors on CPU, metadata). Raises CheckpointError for anything unusable."""
    from safetensors.torch import load as st_load

    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint missing") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    info = read_header(path, data)
    if kind is not None and info["kind"] != kind:
        raise CheckpointError(f"{path}: holds a {info['kind']!r} checkpoint, expected {kind!r}")
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors raises its own error types for torn data
        raise CheckpointError(f"{path}: corrupt or truncated tensor data ({e})") from None
    return tensors, info["meta"]
