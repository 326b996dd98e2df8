"""Discovery: which hidden units track which simple features of the text. Every unit against every
feature at once: Pearson's r from one matrix product of the standardised activations and features,
over the characters where both are known."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from charlm_tui.core.analysis import features as F
from charlm_tui.core.analysis.scoring import Scored

TRACKS = 0.3  # |r| below this: the unit does not track the feature (said so, not ranked as a find)


@dataclass(frozen=True)
class Match:
    feature: str
    layer: int
    index: int
    r: float

    @property
    def unit(self) -> str:
        return f"{self.layer}:{self.index}"

    def describe(self, kind: str = "cell") -> str:
        return f"{kind} {self.unit} tracks {self.feature!r}, r = {self.r:+.2f}"

    def to_json(self) -> dict:
        return {"feature": self.feature, "layer": self.layer, "index": self.index, "r": round(self.r, 4)}


@dataclass(frozen=True)
class Discovery:
    matches: list[Match]  # the best unit of each feature, best |r| first (those under TRACKS too)
    absent: list[str]  # features the text never varies in (no quotes at all, ...)
    top: dict[str, list[Match]]  # each feature's best few units

    @property
    def found(self) -> list[Match]:
        return [m for m in self.matches if abs(m.r) >= TRACKS]

    @property
    def untracked(self) -> list[Match]:
        return [m for m in self.matches if abs(m.r) < TRACKS]

    def to_json(self) -> dict:
        return {
            "threshold": TRACKS,
            "matches": [m.to_json() for m in self.matches],
            "absent": self.absent,
            "top": {k: [m.to_json() for m in v] for k, v in self.top.items()},
        }


def correlations(acts: np.ndarray, feats: np.ndarray) -> np.ndarray:
    """(units, features) Pearson r of the columns of ``acts`` (N, U) against those of ``feats``
    (N, F); 0 where a column is constant."""
    a = acts.astype(np.float64)
    f = feats.astype(np.float64)
    a = a - a.mean(axis=0)
    f = f - f.mean(axis=0)
    an = np.sqrt((a * a).sum(axis=0))
    fn = np.sqrt((f * f).sum(axis=0))
    r = (a.T @ f) / np.maximum(np.outer(an, fn), 1e-30)
    r[an < 1e-9, :] = 0.0
    r[:, fn < 1e-9] = 0.0
    return r


def discover(scored: Scored, names: list[str] | None = None, per_feature: int = 3) -> Discovery:
    """Rank every unit against every feature of ``scored.text`` (the characters with activations)."""
    if scored.acts is None:
        raise ValueError("activations were not computed")
    rows = np.isfinite(scored.acts[:, 0])
    feats = F.compute(scored.text, names)
    names = list(feats)
    fm = np.stack([feats[k][rows] for k in names], axis=1)
    am = scored.acts[rows]
    absent = [k for i, k in enumerate(names) if fm.shape[0] < 2 or float(fm[:, i].std()) < 1e-9]
    if am.shape[0] < 2:
        return Discovery([], names, {})
    r = correlations(am, fm)
    matches, top = [], {}
    for j, name in enumerate(names):
        if name in absent:
            continue
        order = np.argsort(-np.abs(r[:, j]))[:per_feature]
        ms = [Match(name, int(u) // scored.hidden, int(u) % scored.hidden, float(r[u, j])) for u in order]
        top[name] = ms
        if ms and math.isfinite(ms[0].r):
            matches.append(ms[0])
    matches.sort(key=lambda m: -abs(m.r))
    return Discovery(matches, absent, top)
