"""``charlm-tui inspect RUN``: the surprisal view and a unit's view in the terminal, discovery's
ranking, the per-character values as JSON, and the self-contained HTML page."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from charlm_tui import formatting
from charlm_tui.core.errors import CharLMError


def _read_text(arg: str) -> tuple[str, str]:
    from charlm_tui.core.analysis.session import MAX_TEXT_BYTES
    from charlm_tui.core.bounded_read import read_text_bounded

    if arg == "-":
        data = sys.stdin.buffer.read(MAX_TEXT_BYTES + 1)
        if len(data) > MAX_TEXT_BYTES:
            raise CharLMError(f"standard input is over {MAX_TEXT_BYTES >> 20} MiB; inspect a part of it")
        return data.decode("utf-8", "replace"), "standard input"
    path = Path(arg).expanduser()
    try:
        return read_text_bounded(path, MAX_TEXT_BYTES), path.name
    except OSError as e:
        raise CharLMError(f"{arg}: cannot read it ({e.strerror or e})") from None
    except ValueError as e:
        raise CharLMError(f"{arg}: {e}") from None


def _styles(mode: str, stream) -> str:
    """'color', 'marks' (NO_COLOR: underline and reverse only) or 'plain' (not a terminal)."""
    if mode == "never":
        return "plain"
    if mode == "auto" and not (hasattr(stream, "isatty") and stream.isatty()):
        return "plain"
    return "marks" if os.environ.get("NO_COLOR") else "color"


def _sgr(colour: str | None, mark: str, style: str) -> str:
    if style == "color" and colour:
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
        return f"\x1b[30;48;2;{r};{g};{b}m"
    if style == "marks" and mark:
        return "\x1b[7m" if mark == "reverse" else "\x1b[4m"
    return ""


def render(text: str, colours: list[str | None], marks: list[str], style: str) -> str:
    """The text with each character's colour (or mark), every character made safe for a terminal."""
    out, current = [], ""
    for ch, c, m in zip(text, colours, marks, strict=True):
        want = _sgr(c, m, style) if ch != "\n" else ""
        if want != current:
            out.append("\x1b[0m" if current else "")
            out.append(want)
            current = want
        out.append(ch if ch == "\n" else formatting.printable(ch, 4))
    if current:
        out.append("\x1b[0m")
    return "".join(out)


def cmd_inspect(args, home: Path) -> int:
    from charlm_tui.core.analysis import page
    from charlm_tui.core.analysis.discovery import discover
    from charlm_tui.core.analysis.session import inspect_run

    text, what = (None, None) if args.text is None else _read_text(args.text)
    ins = inspect_run(home, args.run, text, what, "last" if args.last else "best", activations=True)
    s = ins.scored
    unit = None
    if args.unit is not None:
        layer, index = args.unit
        if not (0 <= layer < s.layers and 0 <= index < s.hidden):
            raise CharLMError(
                f"unit {layer}:{index} is not in this model: layers 0-{s.layers - 1}, units 0-{s.hidden - 1}"
            )
        unit = (f"{layer}:{index}", s.unit(layer, index), s.activation_kind)
    found = discover(s) if args.discover else None
    kind = "cell" if s.cell == "lstm" else "unit"
    lines = _discovery_lines(found, kind) if found is not None else None
    if args.html:
        top = [ins.predictions(i) for i in range(len(s.text))]
        doc = page.html_page(f"{ins.run_id}: inside the model", ins.headline(), s.text, s.bits, top, unit, lines)
        _write(Path(args.html).expanduser(), doc)
    if args.json:
        out: dict = {
            "run_id": ins.run_id,
            "what": ins.what,
            "chars": len(s.text),
            "total_chars": ins.total_chars,
            "mean_bits": s.mean_bits,
            "references": {k: v for k, v in ins.refs.lines()} if ins.refs else None,
            "text": s.text,
            "bits": [None if not math.isfinite(b) else round(float(b), 5) for b in s.bits],
        }
        if unit is not None:
            out["unit"] = {
                "name": unit[0],
                "kind": unit[2],
                "values": [None if not math.isfinite(a) else round(float(a), 5) for a in unit[1]],
            }
        if found is not None:
            out["discovery"] = found.to_json()
        print(json.dumps(out))
        return 0
    style = _styles(args.color, sys.stdout)
    n = min(len(s.text), args.chars)
    print(formatting.printable(f"{ins.run_id}: {ins.headline()}"))
    if unit is not None:
        name, values, kind_text = unit
        scale = page.act_scale(values)
        print(f"unit {name}: its {kind_text} after each character, blue -{scale:.2f} .. red +{scale:.2f}")
        colours = [page.act_color(float(a), scale) for a in values[:n]]
        marks = [page.act_mark(float(a), scale) for a in values[:n]]
    else:
        print(page.LEGEND)
        b = page.bands(s.bits[:n])
        colours = [page.BANDS[int(k)][1] for k in b]
        marks = [page.BANDS[int(k)][2] for k in b]
    print(render(s.text[:n], colours, marks, style))
    if n < len(s.text):
        print(f"... ({len(s.text) - n:,} more characters: --chars N shows more, --html OUT.html all of them)")
    if lines is not None:
        print("discovery:")
        for line in lines:
            print("  " + line)
    if args.html:
        print(f"wrote {args.html}")
    return 0


def _discovery_lines(found, kind: str) -> list[str]:
    from charlm_tui.core.analysis.discovery import TRACKS

    lines = [m.describe(kind) for m in found.found]
    lines += [
        f"nothing tracks {m.feature!r} (the best, {kind} {m.unit}, r = {m.r:+.2f} < {TRACKS})" for m in found.untracked
    ]
    lines += [f"the text has no variation in {name!r}" for name in found.absent]
    return lines


def _write(path: Path, doc: str) -> None:
    from charlm_tui.core.atomic import write_bytes

    try:
        write_bytes(path, doc.encode("utf-8"))
    except OSError as e:
        raise CharLMError(f"{path}: cannot write it ({e.strerror or e})") from None
