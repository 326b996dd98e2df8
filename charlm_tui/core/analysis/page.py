"""The colour scales both views share, and the self-contained HTML page of an inspection (no
external script, font, stylesheet or URL: it opens from a file, offline, in a notebook's iframe).

Surprisal: bits paid per character in five bands, from nothing (under half a bit) to dark red (6
bits and more); without colour the two worst bands are underlined and reversed. Activations: a
diverging blue (negative) to red (positive) scale over the unit's largest magnitude in the text."""

from __future__ import annotations

import html
import json
import math

import numpy as np

# (upper bound in bits, background colour, what NO_COLOR shows): the bands of the surprisal view
BANDS: tuple[tuple[float, str | None, str], ...] = (
    (0.5, None, ""),
    (1.5, "#fff1a8", ""),
    (3.0, "#ffc36b", ""),
    (6.0, "#ff7a59", "underline"),
    (math.inf, "#c81d3a", "reverse"),
)
LEGEND = "bits paid: <0.5 none, 0.5-1.5 yellow, 1.5-3 orange, 3-6 red (underlined), 6+ dark red (reversed)"


def band(bits: float) -> int:
    """The band (0..4) of a character's bits; 0 for one not scored."""
    if not math.isfinite(bits):
        return 0
    return next(i for i, (hi, _c, _m) in enumerate(BANDS) if bits < hi)


def bands(bits: np.ndarray) -> np.ndarray:
    """The band of every character, vectorised."""
    edges = np.array([hi for hi, _c, _m in BANDS[:-1]])
    out = np.searchsorted(edges, np.nan_to_num(bits, nan=0.0), side="right")
    return out.astype(np.int8)


def act_scale(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    return float(np.abs(v).max()) if v.size else 1.0


def act_color(a: float, scale: float) -> str | None:
    """Blue for negative, red for positive, white at 0 (None when not computed)."""
    if not math.isfinite(a):
        return None
    x = max(-1.0, min(1.0, a / (scale or 1.0)))
    k = int(round(255 * (1 - abs(x))))
    return f"#ff{k:02x}{k:02x}" if x > 0 else f"#{k:02x}{k:02x}ff"


def act_mark(a: float, scale: float) -> str:
    """What NO_COLOR shows for an activation: the strongest half of each sign."""
    if not math.isfinite(a) or not scale:
        return ""
    x = a / scale
    return "reverse" if x > 0.5 else "underline" if x < -0.5 else ""


_STYLE = """
body{font-family:ui-monospace,Menlo,Consolas,monospace;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.2em} h2{font-size:1.05em;margin-top:1.6em}
pre{white-space:pre-wrap;word-break:break-all;line-height:1.45;border:1px solid #ddd;padding:.8em}
.legend span{padding:0 .4em;margin-right:.3em;border:1px solid #ccc}
table{border-collapse:collapse} td,th{padding:.15em .6em;text-align:left;border-bottom:1px solid #eee}
#tip{position:fixed;display:none;background:#fffbe6;border:1px solid #999;padding:.3em .5em;font-size:.9em}
"""

_SCRIPT = """
const D=JSON.parse(document.getElementById('data').textContent);
const tip=document.getElementById('tip');
function show(e){const t=e.target;if(!t.dataset||t.dataset.i===undefined){tip.style.display='none';return;}
const i=+t.dataset.i,p=D.top[i];let s=D.bits[i]===null?'not scored':('paid '+D.bits[i].toFixed(2)+' bits');
if(p&&p.length){s+='<br>'+p.map(x=>JSON.stringify(x[0]).replace(/</g,'&lt;')+' '+(100*x[1]).toFixed(1)+'%').join('<br>');}
if(t.dataset.a!==undefined){s+='<br>unit '+D.unit+': '+t.dataset.a;}
tip.innerHTML=s;tip.style.display='block';tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';}
document.addEventListener('mouseover',show);
"""


def _spans(text: str, colours: list[str | None], extra: list[str] | None = None) -> str:
    out = []
    for i, ch in enumerate(text):
        c = colours[i]
        e = extra[i] if extra is not None else ""
        body = html.escape(ch) if ch != "\n" else "\n"
        style = f' style="background:{c}"' if c else ""
        out.append(f'<span data-i="{i}"{style}{e}>{body}</span>' if ch != "\n" else body)
    return "".join(out)


def html_page(
    title: str,
    headline: str,
    text: str,
    bits: np.ndarray,
    top: list[list[tuple[str, float]]],
    unit: tuple[str, np.ndarray, str] | None = None,
    discoveries: list[str] | None = None,
) -> str:
    """The page: the headline, the surprisal view with its legend, the unit's view (``unit``: its
    name, its values, what they are) and discovery's findings; the top predictions of each
    character in a JSON block an inline script shows on hover."""
    b = bands(bits)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{html.escape(headline)}</p>",
        "<h2>Surprisal: how many bits the model paid for each character</h2><p class='legend'>",
        "".join(
            f"<span style='background:{c or '#fff'}'>{html.escape(lbl)}</span>"
            for (_hi, c, _m), lbl in zip(BANDS, ("<0.5", "0.5-1.5", "1.5-3", "3-6", "6+ bits"), strict=True)
        ),
        "</p><pre>",
        _spans(text, [BANDS[int(k)][1] for k in b]),
        "</pre>",
    ]
    unit_name = None
    if unit is not None:
        unit_name, values, kind = unit
        scale = act_scale(values)
        colours = [act_color(float(a), scale) for a in values]
        extra = [f' data-a="{float(a):.3f}"' if math.isfinite(float(a)) else "" for a in values]
        parts += [
            f"<h2>Unit {html.escape(unit_name)}: its {html.escape(kind)} after each character</h2>",
            f"<p class='legend'><span style='background:#0000ff;color:#fff'>-{scale:.2f}</span>"
            f"<span>0</span><span style='background:#ff0000;color:#fff'>+{scale:.2f}</span></p><pre>",
            _spans(text, colours, extra),
            "</pre>",
        ]
    if discoveries:
        parts.append("<h2>Discovery: the units that track simple features of the text</h2><table>")
        parts += [f"<tr><td>{html.escape(d)}</td></tr>" for d in discoveries]
        parts.append("</table>")
    data = {
        "bits": [round(float(x), 3) if math.isfinite(float(x)) else None for x in bits],
        "top": [[[c, round(p, 4)] for c, p in t] for t in top],
        "unit": unit_name,
    }
    blob = json.dumps(data, ensure_ascii=True).replace("</", "<\\/")
    parts += [
        "<div id='tip'></div>",
        f"<script type='application/json' id='data'>{blob}</script>",
        f"<script>{_SCRIPT}</script></body></html>",
    ]
    return "".join(parts)
