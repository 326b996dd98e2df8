"""The runs in a data dir as a collection: create and find them (by id, prefix or 'latest'), list them
with their state (interrupted, stalled, damaged), what corpora they used, delete and rename. One
run's folder is ``store.run.Run``."""

from __future__ import annotations

import platform
import re
import secrets
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from charlm_tui.core.atomic import remove_stale_temps
from charlm_tui.core.errors import CharLMError, RunError
from charlm_tui.core.names import child, name_problem
from charlm_tui.core.store import checkpoint
from charlm_tui.core.store.run import STALLED_AFTER_S, Run, _now, heartbeat_age
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
    parent: str | None = None  # "RUN (best weights, step N)": the run this one was fine-tuned from

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def status_text(self) -> str:
        """ "finished (max_seconds)", "stopped", "hangup": the reason only where it adds something."""
        return self.status + (f" ({self.reason})" if self.reason and self.reason != self.status else "")


def describe_parent(record) -> str | None:
    """A config's parent record as one line: "RUN (best weights, step 1,200)"; None if none (or not
    a record: a hand-edited file shows no lineage rather than failing)."""
    if not isinstance(record, dict) or not isinstance(record.get("run_id"), str):
        return None
    weights = record.get("weights") if record.get("weights") in ("best", "last") else "?"
    step = record.get("step")
    at = f", step {step:,}" if isinstance(step, int) and not isinstance(step, bool) else ""
    return f"{record['run_id']} ({weights} weights{at})"


def lineage(home: Path, run: Run, limit: int = 20) -> list[dict]:
    """The parent records from this run back to the first (a parent that is gone ends the chain
    after its record; a loop or a damaged config ends it too)."""
    chain: list[dict] = []
    seen = {run.id}
    current: Run | None = run
    while current is not None and len(chain) < limit:
        try:
            record = current.config.get("parent")
        except CharLMError:
            break
        if not isinstance(record, dict) or not isinstance(record.get("run_id"), str):
            break
        chain.append(record)
        if record["run_id"] in seen:
            break
        seen.add(record["run_id"])
        try:
            current = open_run(home, record["run_id"])
        except CharLMError:
            current = None
    return chain


def run_info(run: Run) -> RunInfo:
    """What the listing shows of one run. Never raises for a damaged run: every field has its type,
    and the damage (a file that fails its reader) is in ``damaged``."""
    if not run.has_config():
        holder = run.lock_holder()
        if holder is not None:  # train --detach made the folder and its trainer is starting
            return RunInfo(
                id=run.id,
                corpus="?",
                cell="?",
                size="?",
                steps=0,
                best_val_ppl=None,
                best_val_bpc=None,
                status="starting",
                reason=f"its trainer (pid {holder.get('pid')}) is starting",
                updated=str(holder.get("since") or ""),
                created=str(holder.get("since") or ""),
            )
    st = run.status()
    damaged = st.get("reason") if st.get("status") == "damaged" else None
    if damaged:
        st = {"status": "damaged"}
    corpus = cell = size = "?"
    created = st.get("created") or ""
    parent = None
    try:
        cfg = run.config
        corpus = cfg["corpus"].get("name") or "?"
        parent = describe_parent(cfg.get("parent"))
        created = cfg.get("created") or created
        m = run.model_config()
        cell, size = m.cell, f"{m.num_layers}x{m.hidden_size}"
        run.vocab()
        run.check_weights()
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
        parent=parent,
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
            spec = Run(p).config["corpus"].get("spec")
        except CharLMError:
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


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "corpus"


def new_run_id(corpus_name: str) -> str:
    return f"{_slug(corpus_name)}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def versions() -> dict:
    import numpy
    import torch

    from charlm_tui import __version__

    return {
        "charlm_tui": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def create_run(
    home: Path,
    corpus,
    model_cfg,
    train_cfg,
    corpus_spec: str,
    run_id: str | None = None,
    world_size: int = 1,
    precision: dict | None = None,
    parent: dict | None = None,
    sizing: dict | None = None,
) -> Run:
    """A new run folder; ``run_id`` names it (a detached trainer gets its id from the parent);
    ``precision`` is what its training step runs in (core.training.precision.Precision as JSON);
    ``parent``: the run it was fine-tuned from (core.training.finetune.Parent as JSON);
    ``sizing``: how its model was fitted to the budget (core.sizing.Choice.record)."""
    root = runs_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    if run_id is not None:
        path = child(root, run_id, "run")
        path.mkdir(exist_ok=True)
        if Run(path).has_config():
            raise RunError(f"run {run_id} already exists; resume it with --resume")
    else:
        for _ in range(10):
            path = root / new_run_id(corpus.name)
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        else:
            raise RunError(f"{root}: could not create a new run folder")
    run = Run(path)
    run.acquire_lock()
    run.write_new(
        corpus.vocab.to_json(),
        {
            "format_version": checkpoint.FORMAT_VERSION,
            "created": _now(),
            "model": model_cfg.to_json(),
            "train": train_cfg.to_json(),
            "corpus": {**corpus.info(), "spec": corpus_spec},
            "versions": versions(),
            "world_size": world_size,
            **({"precision": precision} if precision is not None else {}),
            **({"parent": parent} if parent is not None else {}),
            **({"sizing": sizing} if sizing is not None else {}),
        },
    )
    run.write_status(status="created", reason=None, created=_now(), steps=0)
    return run


def open_run(home: Path, run_id: str) -> Run:
    """Find a run by id, unique id prefix, or 'latest'. Only names inside the runs folder are
    ever matched: no globbing, no paths."""
    root = runs_dir(home)
    if run_id == "latest":
        runs = [Run(p) for p in run_folders(root)]
        if not runs:
            raise RunError(f"no runs yet in {root}; train one with 'charlm-tui train'")
        return max(runs, key=_created)
    problem = name_problem(run_id, "run id")
    if problem:
        raise RunError(f"{problem}; list the runs with 'charlm-tui runs'")
    if (root / run_id).is_dir():
        return Run(child(root, run_id, "run"))
    matches = [p for p in run_folders(root) if p.name.startswith(run_id)]
    if len(matches) == 1:
        return Run(child(root, matches[0].name, "run"))
    if len(matches) > 1:
        raise RunError(f"run id {run_id!r} is ambiguous: {', '.join(sorted(p.name for p in matches)[:5])}")
    raise RunError(f"no run {run_id!r} in {root}; list them with 'charlm-tui runs'")


def run_folders(root: Path) -> list[Path]:
    """The run folders in ``root``: valid names only (temp and foreign entries are skipped)."""
    try:
        entries = list(root.iterdir())
    except FileNotFoundError:
        return []
    except OSError as e:
        raise RunError(f"{root}: cannot list runs ({e.strerror or e})") from None
    return sorted(p for p in entries if name_problem(p.name, "run") is None and p.is_dir())


def _created(run: Run) -> str:
    """When the run was created (ISO time, sortable); "" when its files cannot say."""
    try:
        created = run.config.get("created")
    except CharLMError:
        created = None
    return str(created or run.status().get("created") or "")
