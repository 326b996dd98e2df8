"""The runs in a data dir as a collection: list them with their state (interrupted, stalled,
damaged), what corpora they used, delete and rename. One run's folder is ``runs.Run``."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from charlm_tui.core import checkpoint
from charlm_tui.core.atomic import remove_stale_temps
from charlm_tui.core.errors import CharLMError, RunError
from charlm_tui.core.names import name_problem
from charlm_tui.core.runs import STALLED_AFTER_S, Run, heartbeat_age, open_run, run_folders
from charlm_tui.paths import runs_dir


@dataclass
class RunInfo:
    id: str
    corpus: str
    cell: str
    size: str  # e.g. "2x256"
    steps: int
    best_val_ppl: float | None
    best_val_bpc: float | None
    status: str
    reason: str | None
    updated: str
    created: str
    damaged: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def status_text(self) -> str:
        """ "finished (max_seconds)", "stopped", "hangup": the reason only where it adds something."""
        return self.status + (f" ({self.reason})" if self.reason and self.reason != self.status else "")


def run_info(run: Run) -> RunInfo:
    """What the listing shows of one run. Never raises for a damaged run: every field has its type,
    and the damage (a file that fails its reader) is in ``damaged``."""
    st = run.status()
    damaged = st.get("reason") if st.get("status") == "damaged" else None
    if damaged:
        st = {"status": "damaged"}
    corpus = cell = size = "?"
    created = st.get("created") or ""
    try:
        cfg = run.config
        corpus = cfg["corpus"].get("name") or "?"
        created = cfg.get("created") or created
        m = run.model_config()
        cell, size = m.cell, f"{m.num_layers}x{m.hidden_size}"
        run.vocab()
        for name in ("best", "last"):
            if (run.path / f"{name}.safetensors").exists():
                checkpoint.read_header(run.path / f"{name}.safetensors")
    except CharLMError as e:
        damaged = damaged or str(e)
    status = st.get("status", "unknown")
    if status in ("running", "paused", "created"):
        holder = run.lock_holder()
        if holder is None:
            status, st["reason"] = "interrupted", st.get("reason") or "process ended without saving a final status"
        elif heartbeat_age(st) > STALLED_AFTER_S:
            status, st["reason"] = "stalled", f"no heartbeat for {heartbeat_age(st):.0f} s"
    if damaged and status != "running":
        status, st["reason"] = "damaged", None
    return RunInfo(
        id=run.id,
        corpus=corpus,
        cell=cell,
        size=size,
        steps=st.get("steps") or 0,
        best_val_ppl=st.get("best_val_ppl"),
        best_val_bpc=st.get("best_val_bpc"),
        status=status,
        reason=st.get("reason"),
        updated=st.get("updated") or "",
        created=created,
        damaged=damaged,
    )


def list_runs(home: Path) -> list[RunInfo]:
    out = []
    for p in run_folders(runs_dir(home)):
        remove_stale_temps(p)
        out.append(run_info(Run(p)))
    out.sort(key=lambda i: i.updated or i.created, reverse=True)
    return out


def recent_corpus_specs(home: Path, limit: int = 10) -> list[str]:
    """What recent runs were trained on, newest first, as the user typed it (a path, URL or name)."""
    out: list[str] = []
    for p in sorted(run_folders(runs_dir(home)), key=_mtime, reverse=True):
        try:
            spec = json.loads((p / "config.json").read_text("utf-8"))["corpus"]["spec"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(spec, str) and spec not in out:
            out.append(spec)
        if len(out) >= limit:
            break
    return out


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def _refuse_if_training(run: Run, what: str) -> None:
    holder = run.lock_holder()
    if holder is not None:
        raise RunError(
            f"cannot {what} run {run.id}: pid {holder.get('pid')} on {holder.get('host')} is training it; "
            f"stop it first ('charlm-tui runs stop {run.id}'), or if that process is gone, "
            f"'charlm-tui runs unlock {run.id} --force'"
        )


def delete_run(home: Path, run_id: str) -> str:
    run = open_run(home, run_id)
    _refuse_if_training(run, "delete")
    if run.path.is_symlink():  # a link someone put in the runs folder: remove the link, not its target
        run.path.unlink()
    else:
        shutil.rmtree(run.path)
    return run.id


def run_name_problem(home: Path, new_id: str) -> str | None:
    """Why ``new_id`` cannot name a run (None if it can): checked before renaming, and by the app's
    rename dialog while it is still open."""
    problem = name_problem(new_id, "run name")
    if problem:
        return problem
    if (runs_dir(home) / new_id).exists():
        return f"a run named {new_id!r} already exists"
    return None


def rename_run(home: Path, run_id: str, new_id: str) -> str:
    run = open_run(home, run_id)
    problem = run_name_problem(home, new_id)
    if problem:
        raise RunError(problem)
    dest = run.path.parent / new_id
    _refuse_if_training(run, "rename")
    run.path.rename(dest)
    return new_id
