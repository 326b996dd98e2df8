"""Character vocabulary: Unicode code points plus an ``<unk>`` id.

Id 0 is ``<unk>``; ids 1..n are the corpus characters in code-point order, so a vocab
is fully determined by its set of characters and round-trips through JSON.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

UNK_ID = 0
UNK_TOKEN = "<unk>"
UNK_DISPLAY = "\ufffd"  # how an <unk> id is shown when decoded
MAX_CODEPOINT = 0x110000


@dataclass(frozen=True)
class EncodedPrompt:
    ids: list[int]
    unknown: Counter = field(default_factory=Counter)  # char -> count of chars mapped to <unk>

    @property
    def unknown_count(self) -> int:
        return sum(self.unknown.values())


class Vocab:
    def __init__(self, chars):
        chars = sorted(set(chars))
        for ch in chars:
            if len(ch) != 1:
                raise ValueError(f"vocab entries must be single characters, got {ch!r}")
        self.chars: list[str] = chars
        self.stoi: dict[str, int] = {ch: i + 1 for i, ch in enumerate(chars)}
        self._lut = None  # numpy array, built on demand

    @property
    def size(self) -> int:
        return len(self.chars) + 1

    def __len__(self) -> int:
        return self.size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and other.chars == self.chars

    def __contains__(self, ch: str) -> bool:
        return ch in self.stoi

    def itos(self, i: int) -> str:
        return UNK_DISPLAY if i == UNK_ID else self.chars[i - 1]

    def encode(self, text: str) -> list[int]:
        get = self.stoi.get
        return [get(ch, UNK_ID) for ch in text]

    def encode_prompt(self, text: str) -> EncodedPrompt:
        """Encode a user prompt; characters the model never saw become <unk> and are reported."""
        ids = self.encode(text)
        unknown = Counter(ch for ch, i in zip(text, ids) if i == UNK_ID)
        return EncodedPrompt(ids, unknown)

    def decode(self, ids) -> str:
        return "".join(self.itos(int(i)) for i in ids)

    def lookup_table(self):
        """A code point -> id table (all code points, numpy), for vectorised encoding of large text."""
        if self._lut is None:
            import numpy as np

            dtype = np.uint8 if self.size <= 256 else (np.int16 if self.size <= 32767 else np.int32)
            lut = np.full(MAX_CODEPOINT, UNK_ID, dtype=dtype)
            for ch, i in self.stoi.items():
                lut[ord(ch)] = i
            self._lut = lut
        return self._lut

    def to_json(self) -> dict:
        return {"unk": UNK_TOKEN, "unk_id": UNK_ID, "chars": "".join(self.chars)}

    @classmethod
    def from_json(cls, obj: dict) -> Vocab:
        if not isinstance(obj, dict) or not isinstance(obj.get("chars"), str):
            raise ValueError("vocab JSON must be an object with a 'chars' string")
        if obj.get("unk_id", UNK_ID) != UNK_ID:
            raise ValueError("unsupported vocab layout (unk_id must be 0)")
        bad = [c for c in obj["chars"] if ord(c) >= MAX_CODEPOINT or 0xD800 <= ord(c) <= 0xDFFF]
        if bad:
            raise ValueError(f"vocab holds characters no corpus can contain ({bad[0]!r})")
        if not obj["chars"]:
            raise ValueError("vocab is empty")
        return cls(obj["chars"])
