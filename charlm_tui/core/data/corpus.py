"""Decode corpus text into one integer tensor of character ids, with stats and a fingerprint.

A corpus is read as a list of *parts* (files, or in-memory text for the built-in corpora and
the separators between files of a folder). Files are streamed in chunks twice: the first pass
checks the bytes, counts every code point (vocabulary, rare characters, lines) and hashes the
raw bytes; the second pass maps code points to ids straight into a preallocated array. Peak
memory stays at the id array plus a few chunks, whatever the corpus size.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from charlm_tui.core.data.vocab import MAX_CODEPOINT, Vocab
from charlm_tui.core.errors import CorpusError

if TYPE_CHECKING:
    import numpy

CHUNK_BYTES = 8 << 20
PREVIEW_CHARS = 2000
RARE_MAX_COUNT = 3  # a character seen at most this often is "rare"

Part = Path | str  # a file to stream, or literal text
ProgressFn = Callable[[str, float], None]  # (phase, fraction done)


@dataclass(frozen=True)
class TextOptions:
    encoding: str = "utf-8"
    normalize: str | None = None  # "NFC", "NFKC", ... or None
    lower: bool = False

    def __post_init__(self):
        if not isinstance(self.encoding, str):
            raise CorpusError(f"the encoding must be a name such as utf-8, got {self.encoding!r}")
        try:
            info = codecs.lookup(self.encoding)
        except LookupError:
            raise CorpusError(f"unknown encoding {self.encoding!r}; try utf-8, latin-1 or cp1252") from None
        if not getattr(info, "_is_text_encoding", True):
            raise CorpusError(
                f"{self.encoding!r} is not a text encoding (it turns bytes into bytes); try utf-8, latin-1 or cp1252"
            )
        if self.normalize not in (None, "NFC", "NFD", "NFKC", "NFKD"):
            raise CorpusError(f"unknown normalisation {self.normalize!r}; use NFC, NFD, NFKC or NFKD")

    def to_json(self) -> dict:
        return {"encoding": self.encoding, "normalize": self.normalize, "lower": self.lower}


@dataclass
class CorpusStats:
    chars: int
    lines: int
    distinct: int
    rare: list[tuple[str, int]]  # rarest characters, fewest first
    preview: str

    @property
    def rare_warning(self) -> str | None:
        few = [c for c, n in self.rare if n <= RARE_MAX_COUNT]
        if len(few) >= 5 and len(few) * 10 >= self.distinct:
            return (
                f"{len(few)} of {self.distinct} distinct characters appear at most "
                f"{RARE_MAX_COUNT} times; the model will barely learn them"
            )
        return None


@dataclass
class Corpus:
    name: str
    source: str
    ids_np: numpy.ndarray  # 1-D, compact integer dtype
    vocab: Vocab
    sha256: str
    n_bytes: int
    stats: CorpusStats
    options: TextOptions = field(default_factory=TextOptions)

    @property
    def ids(self):
        """The ids as a torch tensor sharing the numpy buffer (torch is imported on first use only,
        so picking and previewing corpora never waits for it)."""
        t = self.__dict__.get("_ids_t")
        if t is None:
            import torch

            t = self.__dict__["_ids_t"] = torch.from_numpy(self.ids_np)
        return t

    @property
    def baseline_ppl(self) -> float:
        """Perplexity of a uniform guess over the vocabulary (including <unk>)."""
        return float(self.vocab.size)

    def split_sizes(self, val_fraction: float) -> tuple[int, int]:
        n = len(self.ids_np)
        n_val = val_split_size(n, val_fraction)
        return n - n_val, n_val

    def info(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "sha256": self.sha256,
            "bytes": self.n_bytes,
            "chars": self.stats.chars,
            "vocab_size": self.vocab.size,
            **self.options.to_json(),
        }


def val_split_size(n: int, val_fraction: float) -> int:
    if not 0.0 < val_fraction < 1.0:
        raise CorpusError(f"validation fraction must be between 0 and 1, got {val_fraction}")
    return max(1, int(round(n * val_fraction)))


# ---------------------------------------------------------------- decoding

# byte-order marks, longest first (the UTF-32 LE mark begins with the UTF-16 LE one)
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _wide_encoding(encoding: str) -> bool:
    """UTF-16/32 text legitimately contains NUL bytes."""
    return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))


def _read_file_chunks(path: Path) -> Iterator[bytes]:
    try:
        # non-blocking open, then a check of what was opened: a FIFO in a file's place can neither
        # block the open nor be read (O_NONBLOCK does nothing to a regular file's reads)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(path)
            raise CorpusError(f"{path}: not a regular file (a FIFO, device or socket); give a text file")
        with open(fd, "rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield chunk
    except PermissionError:
        raise CorpusError(f"{path}: permission denied; check the file's permissions") from None
    except IsADirectoryError:
        raise CorpusError(f"{path} is a directory; give a file, or a folder with a glob") from None
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except OSError as e:
        raise CorpusError(f"{path}: cannot read ({e.strerror or e})") from None


def _utf8_safe_cut(buf: bytes) -> int:
    """Length of the longest prefix of buf that does not end inside a UTF-8 sequence."""
    n = len(buf)
    i = n - 1
    while i >= 0 and n - i <= 4 and (buf[i] & 0xC0) == 0x80:
        i -= 1
    if i < 0:
        return n
    lead = buf[i]
    need = (
        1
        if lead < 0x80
        else 2
        if lead >> 5 == 0b110
        else 3
        if lead >> 4 == 0b1110
        else 4
        if lead >> 3 == 0b11110
        else 1
    )
    return n if n - i >= need else i


def _decode_file(path: Path, opts: TextOptions, hasher, on_bytes: Callable[[int], None]) -> Iterator[str]:
    """Yield decoded text chunks of a file; raise CorpusError naming the first bad byte."""
    encoding = opts.encoding
    utf8 = codecs.lookup(encoding).name == "utf-8"
    offset = 0  # bytes of the file consumed before `pending`
    pending = b""
    first = True
    decoder = None
    for chunk in _read_file_chunks(path):
        if first and utf8:
            bom = next((name for mark, name in BOMS if chunk.startswith(mark)), None)
            if bom is not None:  # a UTF-16/32 file says so in its first bytes: read it as that
                encoding, utf8 = bom, False
        if decoder is None and not utf8:
            decoder = codecs.getincrementaldecoder(encoding)()
        if hasher is not None:
            hasher.update(chunk)
        on_bytes(len(chunk))
        nul = chunk.find(b"\0")
        if nul >= 0 and not _wide_encoding(encoding):
            raise CorpusError(
                f"{path}: looks binary (NUL byte at offset {offset + len(pending) + nul}); a corpus must be a text file"
            )
        buf = pending + chunk
        if utf8:
            cut = _utf8_safe_cut(buf)
            data, pending = buf[:cut], buf[cut:]
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise CorpusError(
                    f"{path}: not valid UTF-8 (bad byte 0x{data[e.start]:02x} at offset "
                    f"{offset + e.start}); pass --encoding (e.g. latin-1) if it is another encoding"
                ) from None
            offset += cut
        else:
            try:
                assert decoder is not None  # made above whenever the encoding is not UTF-8
                text = decoder.decode(chunk)
            except UnicodeError as e:  # UnicodeDecodeError, or e.g. "UTF-16 stream does not start with BOM"
                where = f"near offset {offset + e.start}" if isinstance(e, UnicodeDecodeError) else f"({e})"
                raise CorpusError(
                    f"{path}: cannot decode as {encoding} {where}; is it another encoding? "
                    "(--encoding, e.g. utf-8 or latin-1)"
                ) from None
            offset += len(chunk)
        if first and text.startswith("\ufeff"):
            text = text[1:]
        first = False
        yield text
    if pending:
        raise CorpusError(
            f"{path}: not valid UTF-8 (file ends inside a character at offset {offset}); the file may be truncated"
        )
    if decoder is not None:
        try:
            tail = decoder.decode(b"", final=True)
        except UnicodeError:
            raise CorpusError(
                f"{path}: cannot decode the end of the file as {encoding}; is it another encoding? (--encoding)"
            ) from None
        if tail:
            yield tail


def _iter_text(parts: list[Part], opts: TextOptions, hasher=None, on_bytes=lambda n: None) -> Iterator[str]:
    for part in parts:
        if isinstance(part, Path):
            chunks = _decode_file(part, opts, hasher, on_bytes)
        else:
            raw = part.encode("utf-8")
            if hasher is not None:
                hasher.update(raw)
            on_bytes(len(raw))
            chunks = iter((part,)) if part else iter(())
        for text in chunks:
            if opts.normalize:
                text = unicodedata.normalize(opts.normalize, text)  # type: ignore[arg-type]  # checked by TextOptions
            if opts.lower:
                text = text.lower()
            yield text


def _codepoints(text: str):
    import numpy as np

    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def parts_size(parts: list[Part]) -> int:
    total = 0
    for p in parts:
        if isinstance(p, Path):
            try:
                total += p.stat().st_size
            except OSError:
                pass
        else:
            total += len(p.encode("utf-8"))
    return total


def decode_parts(
    name: str, source: str, parts: list[Part], opts: TextOptions | None = None, progress: ProgressFn | None = None
) -> Corpus:
    """Read and decode ``parts`` into a Corpus. Raises CorpusError for unusable text."""
    import numpy as np

    opts = opts or TextOptions()
    total = max(1, parts_size(parts))
    done = [0]

    def on_bytes(n: int, phase: str) -> None:
        done[0] += n
        if progress is not None:
            progress(phase, min(1.0, done[0] / total))

    # pass 1: check, hash, count
    hasher = hashlib.sha256()
    counts = np.zeros(MAX_CODEPOINT, dtype=np.int64)
    lines = 0
    preview: list[str] = []
    preview_len = 0
    last_char = ""
    for text in _iter_text(parts, opts, hasher, lambda n: on_bytes(n, "reading")):
        if not text:
            continue
        counts += np.bincount(_codepoints(text), minlength=MAX_CODEPOINT)
        lines += text.count("\n")
        last_char = text[-1]
        if preview_len < PREVIEW_CHARS:
            preview.append(text[: PREVIEW_CHARS - preview_len])
            preview_len += len(preview[-1])
    n_bytes = done[0]
    n_chars = int(counts.sum())
    if n_chars == 0:
        raise CorpusError(f"{source}: is empty; a corpus needs text to learn from")
    present = np.nonzero(counts)[0]
    chars = [chr(int(c)) for c in present]
    if len(chars) < 2:
        raise CorpusError(
            f"{source}: has only one distinct character ({chars[0]!r}); a language model needs at least two"
        )
    vocab = Vocab(chars)
    order = present[np.argsort(counts[present], kind="stable")][:20]
    rare = [(chr(int(c)), int(counts[c])) for c in order]
    stats = CorpusStats(
        chars=n_chars,
        lines=lines + (0 if last_char == "\n" else 1),
        distinct=len(chars),
        rare=rare,
        preview="".join(preview),
    )
    del counts

    # pass 2: encode straight into the id array
    lut = vocab.lookup_table()
    ids = np.empty(n_chars, dtype=lut.dtype)
    pos = 0
    done[0] = 0
    for text in _iter_text(parts, opts, None, lambda n: on_bytes(n, "encoding")):
        cps = _codepoints(text)
        ids[pos : pos + len(cps)] = lut[cps]
        pos += len(cps)
    if pos != n_chars:
        raise CorpusError(f"{source}: changed while it was being read; try again")
    return Corpus(
        name=name,
        source=source,
        ids_np=ids,
        vocab=vocab,
        sha256=hasher.hexdigest(),
        n_bytes=n_bytes,
        stats=stats,
        options=opts,
    )


def corpus_from_text(text: str, name: str = "text", opts: TextOptions | None = None) -> Corpus:
    """A corpus from a string in memory (tests, the built-in corpora)."""
    return decode_parts(name, name, [text], opts)


def existing_path(p: str | os.PathLike[str]) -> Path:
    """A file or folder the user named; anything else that exists (a FIFO, a device, a socket) is
    refused before it is opened, since reading one can block forever or never end."""
    path = Path(p).expanduser()
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file or folder") from None
    except OSError as e:
        raise CorpusError(f"{path}: cannot open ({e.strerror or e})") from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise CorpusError(f"{path}: not a regular file (a FIFO, device or socket); give a text file or a folder")
    return path


def remap_ids(ids, from_vocab: Vocab, to_vocab: Vocab):
    """Re-express ids of one vocab in another; characters ``to_vocab`` lacks become <unk>."""
    import torch

    lut = torch.tensor([0] + [to_vocab.stoi.get(ch, 0) for ch in from_vocab.chars], dtype=torch.long)
    return lut[ids.long()]
