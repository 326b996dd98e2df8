"""Simple features of a text, one value per character, computed by plain code: what a hidden unit
might track (Karpathy, Johnson and Fei-Fei 2015 found cells for quotes, line position and bracket
depth). Each value describes the text *after* reading that character, as a unit's activation there
does (the state the model predicts the next character from)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

OPEN, CLOSE = "([{", ")]}"


def inside_quotes(text: str) -> np.ndarray:
    """1 between a double quote and the next one (the quote that opens counts, the one that closes not)."""
    out = np.zeros(len(text), dtype=np.float32)
    inside = False
    for i, ch in enumerate(text):
        if ch == '"':
            inside = not inside
        out[i] = inside
    return out


def bracket_depth(text: str) -> np.ndarray:
    """How many (, [ and { are open."""
    out = np.zeros(len(text), dtype=np.float32)
    depth = 0
    for i, ch in enumerate(text):
        if ch in OPEN:
            depth += 1
        elif ch in CLOSE and depth > 0:
            depth -= 1
        out[i] = depth
    return out


def line_position(text: str) -> np.ndarray:
    """Characters since the last newline (0 right after one)."""
    out = np.zeros(len(text), dtype=np.float32)
    col = 0
    for i, ch in enumerate(text):
        col = 0 if ch == "\n" else col + 1
        out[i] = col
    return out


def indentation(text: str) -> np.ndarray:
    """The leading spaces of the current line (counting up while still in them)."""
    out = np.zeros(len(text), dtype=np.float32)
    indent, leading = 0, True
    for i, ch in enumerate(text):
        if ch == "\n":
            indent, leading = 0, True
        elif leading and ch == " ":
            indent += 1
        elif leading and ch == "\t":
            indent += 4
        else:
            leading = False
        out[i] = indent
    return out


def word_start(text: str) -> np.ndarray:
    """1 on the first letter of a word."""
    out = np.zeros(len(text), dtype=np.float32)
    prev = " "
    for i, ch in enumerate(text):
        out[i] = ch.isalpha() and not (prev.isalnum() or prev == "_")
        prev = ch
    return out


def after_newline(text: str) -> np.ndarray:
    """1 on a newline: the state from which the next line's first character is predicted."""
    return np.frombuffer(bytes(ch == "\n" for ch in text), dtype=np.uint8).astype(np.float32)


def _code_state(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(inside a Python comment, inside a Python string literal): quotes ' " and triple quotes,
    backslash escapes, # to the end of the line outside strings."""
    comment = np.zeros(len(text), dtype=np.float32)
    string = np.zeros(len(text), dtype=np.float32)
    quote: str | None = None  # the open string's delimiter
    in_comment = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if in_comment:
            if ch == "\n":
                in_comment = False
            else:
                comment[i] = 1
            i += 1
            continue
        if quote is not None:
            string[i] = 1
            if ch == "\\" and i + 1 < n:
                string[i + 1] = 1
                i += 2
                continue
            if text.startswith(quote, i):
                string[i : i + len(quote)] = 0  # the closing quote ends it
                i += len(quote)
                quote = None
                continue
            if ch == "\n" and len(quote) == 1:
                quote = None  # an unterminated one-line string
            i += 1
            continue
        if ch == "#":
            in_comment = True
            comment[i] = 1
        elif ch in "'\"":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            string[i : i + len(quote)] = 1
            i += len(quote)
            continue
        i += 1
    return comment, string


def in_comment(text: str) -> np.ndarray:
    """1 inside a Python comment (# to the end of the line, not in a string)."""
    return _code_state(text)[0]


def in_string(text: str) -> np.ndarray:
    """1 inside a Python string literal (its opening quote included)."""
    return _code_state(text)[1]


FEATURES: dict[str, Callable[[str], np.ndarray]] = {
    "inside quotes": inside_quotes,
    "bracket depth": bracket_depth,
    "position in line": line_position,
    "indentation": indentation,
    "start of a word": word_start,
    "after a newline": after_newline,
    "inside a comment": in_comment,
    "inside a string": in_string,
}


def compute(text: str, names: list[str] | None = None) -> dict[str, np.ndarray]:
    return {name: FEATURES[name](text) for name in (names or list(FEATURES))}
