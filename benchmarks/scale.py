"""Corpus load time and peak RSS at 10 MB and 200 MB, each in a fresh process.

Baseline (10 MB only; at 200 MB it needs tens of GB): read the text and build
torch.tensor([stoi[c] for c in text]), the straightforward way."""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
path, mode = Path(sys.argv[1]), sys.argv[2]
import torch, numpy  # imported before timing: both loaders need them
t0 = time.perf_counter()
if mode == "project":
    from charlm_tui.core.data.catalog import resolve
    c = resolve(str(path), Path("/tmp"))
    n = len(c.ids)
else:
    text = path.read_text("utf-8")
    stoi = {ch: i for i, ch in enumerate(sorted(set(text)))}
    ids = torch.tensor([stoi[ch] for ch in text], dtype=torch.long)
    n = len(ids)
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "chars": n}))
"""


def make_corpus(path: Path, mb: int) -> None:
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyzé") for _ in range(rng.randint(1, 9))) for _ in range(5000)]
    line = lambda: " ".join(rng.choice(words) for _ in range(12)) + ".\n"  # noqa: E731
    block = "".join(line() for _ in range(20000)).encode("utf-8")
    with open(path, "wb") as f:
        written = 0
        while written < mb * 1_000_000:
            f.write(block)
            written += len(block)


def run(path: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,200", help="MB, comma-separated")
    args = ap.parse_args()
    result = {"benchmark": "scale"}
    with tempfile.TemporaryDirectory() as d:
        for mb in map(int, args.sizes.split(",")):
            p = Path(d) / f"synthetic-{mb}mb.txt"
            make_corpus(p, mb)
            size = p.stat().st_size
            r = run(p, "project")
            entry = {
                "file_bytes": size,
                "load_s": round(r["seconds"], 3),
                "peak_rss_mb": round(r["peak_rss_bytes"] / 1e6, 1),
                "peak_rss_x_file": round(r["peak_rss_bytes"] / size, 2),
            }
            if mb <= 20:
                b = run(p, "naive")
                entry.update(
                    naive_load_s=round(b["seconds"], 3),
                    naive_peak_rss_mb=round(b["peak_rss_bytes"] / 1e6, 1),
                    speedup_vs_naive=round(b["seconds"] / r["seconds"], 2),
                    rss_ratio_vs_naive=round(r["peak_rss_bytes"] / b["peak_rss_bytes"], 3),
                )
            result[f"{mb}MB"] = entry
            p.unlink()
    print(json.dumps(result))


if __name__ == "__main__":
    t = time.time()
    main()
