"""The ``charlm-tui runs`` and ``charlm-tui corpora`` commands: what is on disk, listed and managed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from charlm_tui import formatting
from charlm_tui.cli.parser import PROG
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.lifecycle import EXPLAINED_STATUSES


def cmd_runs(args, home: Path) -> int:
    from charlm_tui.core.store.run_store import delete_run, lineage, list_runs, open_run, rename_run, run_info

    if args.action in ("show", "delete", "rename", "stop", "pause", "resume", "unlock", "export") and not args.run:
        raise CharLMError(f"'runs {args.action}' needs a run id")
    if args.action == "list":
        infos = list_runs(home)
        if args.json:
            for i in infos:
                print(json.dumps(i.to_json()))
            return 0
        if not infos:
            print(f"no runs yet in {home / 'runs'}; start one with '{PROG} train python-docs'")
            return 0
        print(f"{'ID':<36} {'CORPUS':<14} {'MODEL':<11} {'STEPS':>7} {'PPL':>7} {'BPC':>6} {'STATUS':<11} UPDATED")
        for i in infos:
            print(format_run_row(i))
        return 0
    if args.action == "show":
        run = open_run(home, args.run)
        info = run_info(run).to_json()
        info["path"] = str(run.path)
        try:
            info["config"] = run.config
        except CharLMError as e:
            info["config_error"] = str(e)
        info["metrics"] = run.metrics()[-5:]
        info["metrics_skipped"] = run.metrics_skipped  # damaged lines in metrics.jsonl, not shown
        info["references"] = _references_json(home, run.id, info.get("best_val_bpc"))
        info["lineage"] = lineage(home, run)  # the run it was fine-tuned from, and that one's, ...
        print(json.dumps(info, indent=2) if args.json else formatting.printable(show_text(info)))
        return 0
    if args.action == "compare":
        return _compare(home, [r for r in (args.run, args.new_name, *args.more) if r], args.json)
    if args.action == "delete":
        print(f"deleted run {delete_run(home, args.run)}")
        return 0
    if args.action == "export":
        return _export_metrics(open_run(home, args.run), args.format, args.out)
    if args.action == "unlock":
        run = open_run(home, args.run)
        print(f"run {run.id}: {run.break_lock(args.force, confirm=ask_yes_no)}")
        return 0
    if args.action in ("stop", "pause", "resume"):
        from charlm_tui.cli.remote import control

        print(f"run {open_run(home, args.run).id}: {control(home, args.run, args.action)}")
        return 0
    if not args.new_name:
        raise CharLMError("'runs rename' needs the run id and the new name")
    print(f"renamed to {rename_run(home, args.run, args.new_name)}")
    return 0


def format_run_row(i) -> str:
    row = (
        f"{i.id:<36} {i.corpus[:14]:<14} {i.cell + ' ' + i.size:<11} {i.steps:>7} "
        f"{formatting.number(i.best_val_ppl, '.3f'):>7} {formatting.number(i.best_val_bpc, '.3f'):>6} {i.status:<11} {i.updated[:19]}"
    )
    why = i.damaged if i.status == "damaged" else i.reason
    if i.status in EXPLAINED_STATUSES and why:
        why = " ".join(str(why).split())  # one line, whatever a damaged file held
        row += f"  {why[:100]}"
    return formatting.printable(row)  # names and reasons come from files anyone may have edited


def _references_json(home: Path, run_id: str, bpc: float | None) -> dict | None:
    """What a good loss is for the run's corpus (validation bits/char), and how the run compares."""
    from charlm_tui.core.store.compare import run_references

    ref = run_references(home, run_id)
    if ref is None:
        return None
    out: dict = {label: round(v, 4) for label, v in ref.lines()}
    out["unit"] = "validation bits/char"
    if bpc is not None:
        out["verdict"] = ref.verdict(bpc)
    return out


def _compare(home: Path, ids: list[str], as_json: bool) -> int:
    """Best validation first, then the settings in which the runs differ, then how each run
    compares with its corpus's reference figures."""
    from charlm_tui.core.store.compare import compare_runs, run_references

    cmp = compare_runs(home, ids)
    refs = {r.id: run_references(home, r.id) for r in cmp.runs}
    if as_json:
        for r in cmp.runs:
            print(
                json.dumps(
                    {
                        "id": r.id,
                        "best_val_nll": r.best_val_nll,
                        "best_val_ppl": r.best_val_ppl,
                        "best_val_bpc": r.best_val_bpc,
                        "best_at_minutes": r.best_minutes,
                        "steps": r.steps,
                        "settings": r.settings,
                        "references": _references_json(home, r.id, r.best_val_bpc),
                    }
                )
            )
        return 0
    width = max(len(r.id) for r in cmp.runs)
    print(
        f"{'RUN':<{width}} {'PPL':>7} {'BPC':>6} {'AT MIN':>6} {'STEPS':>7}"
        + "".join(f" {name.upper():>10}" for name in cmp.differing)
    )
    for r in cmp.runs:
        print(
            f"{r.id:<{width}} {formatting.number(r.best_val_ppl, '.3f'):>7} {formatting.number(r.best_val_bpc, '.3f'):>6} "
            f"{formatting.number(r.best_minutes, '.1f'):>6} {r.steps:>7}"
            + formatting.printable("".join(f" {formatting.setting(r.settings[n]):>10}" for n in cmp.differing))
        )
    if not cmp.differing:
        print("(same settings in every run)")
    shown: set = set()
    for r in cmp.runs:
        ref = refs[r.id]
        if ref is None:
            print(f"{r.id:<{width}} (no reference figures: its corpus is not available as it was)")
            continue
        key = tuple(ref.lines())
        if key not in shown:  # once per corpus and split
            shown.add(key)
            lines = " · ".join(f"{label} {v:.3f}" for label, v in ref.lines())
            corpus = formatting.printable(str(r.settings.get("corpus") or "its corpus"))
            print(f"references for {corpus} (validation bits/char): {lines}")
        if r.best_val_bpc is not None:
            print(f"{r.id:<{width}} {ref.verdict(r.best_val_bpc)}")
    return 0


def cmd_corpora(args, home: Path) -> int:
    from charlm_tui.core.data.catalog import add_to_user_dir, list_catalog
    from charlm_tui.core.data.corpus import decode_parts

    if args.action == "add":
        if not args.source:
            raise CharLMError("'corpora add' needs a file, folder or URL")
        dest = add_to_user_dir(args.source, home, args.name, args.replace, download_progress=_download_progress)
        print(f"added {dest.stem} ({dest.stat().st_size:,} bytes) -> {dest}")
        return 0
    for e in list_catalog(home):
        try:
            c = decode_parts(e.name, e.source, e.parts())
            row = {
                "name": e.name,
                "kind": e.kind,
                "source": e.source,
                "chars": c.stats.chars,
                "vocab_size": c.vocab.size,
                "sha256": c.sha256,
                "description": e.description,
            }
        except CharLMError as err:
            row = {"name": e.name, "kind": e.kind, "source": e.source, "error": str(err)}
        if args.json:
            print(json.dumps(row))
        elif "error" in row:
            print(formatting.printable(f"{e.name:<18} {e.kind:<9} unusable: {row['error']}"))
        else:
            print(
                formatting.printable(
                    f"{e.name:<18} {e.kind:<9} {row['chars']:>11,} chars  vocab {row['vocab_size']:>4}  {e.description}"
                )
            )
    return 0


def _download_progress(done: int, total: int | None) -> None:
    if sys.stderr.isatty():
        pct = f" {100 * done / total:5.1f}%" if total else ""
        sys.stderr.write(f"\rdownloading {done / 1e6:7.2f} MB{pct}")
        sys.stderr.flush()


def ask_yes_no(question: str) -> bool:
    """Ask on stderr, read one line from stdin: yes only for 'y' or 'yes' (no input is no)."""
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    try:
        answer = input()
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def _sizing_rows(sizing: dict) -> list[tuple[str, str]]:
    """How the model was fitted to the budget (config.json's sizing record, maybe hand-edited)."""
    if not sizing:
        return []
    rows = []
    if isinstance(sizing.get("reason"), str):
        rows.append(("fitted", formatting.printable(sizing["reason"][:300])))
    if isinstance(sizing.get("given"), str):
        rows.append(("", formatting.printable(sizing["given"][:300])))
    speeds = sizing.get("speeds")
    if isinstance(speeds, dict):
        parts = []
        for name, sp in list(speeds.items())[:12]:
            if not isinstance(sp, dict):
                continue
            got = [
                f"{p} {v / 1000:,.1f}k"
                for p in ("bf16", "fp32")
                if isinstance(v := sp.get(p), (int, float)) and not isinstance(v, bool) and v > 0
            ]
            if got:
                parts.append(
                    f"{formatting.printable(str(name)[:20])} {' '.join(got)} ({formatting.printable(str(sp.get('source', '?'))[:12])})"
                )
        if parts:
            rows.append(("speeds", "chars/s: " + "; ".join(parts)))
    return rows


def show_text(info: dict) -> str:
    """``runs show`` for a person: what the run is, how far it got, how good it is, where it lives
    (``--json`` gives every field)."""
    rows: list[tuple[str, str]] = [("run", info["id"]), ("status", _status_text(info))]
    cfg = _section(info, "config")
    corpus = _section(cfg, "corpus")
    if corpus:
        size = corpus.get("chars")
        rows.append(
            (
                "corpus",
                f"{corpus.get('name', '?')}"
                + (f" ({size:,} chars)" if isinstance(size, int) else "")
                + (
                    f" from {corpus['spec']}" if corpus.get("spec") and corpus.get("spec") != corpus.get("name") else ""
                ),
            )
        )
    model = _section(cfg, "model")
    if model:
        rows.append(
            (
                "model",
                f"{model.get('cell', '?')} {model.get('num_layers', '?')}x{model.get('hidden_size', '?')}, "
                f"embedding {model.get('embed_dim', '?')}, dropout {model.get('dropout', '?')}, "
                + (f"weight drop {model['weight_drop']}, " if model.get("weight_drop") else "")
                + f"vocab {model.get('vocab_size', '?')}",
            )
        )
    train = _section(cfg, "train")
    if train:
        limit = train.get("max_seconds")
        rows.append(
            (
                "training",
                f"batch {train.get('batch_size', '?')} x {train.get('num_steps', '?')} ({train.get('partition', '?')}), "
                f"lr {formatting.setting(train.get('lr'))} {train.get('lr_schedule', '')}, weight decay "
                f"{formatting.setting(train.get('weight_decay'))}, clip {formatting.setting(train.get('clip'))}"
                + (f", {formatting.duration(limit)} budget" if isinstance(limit, (int, float)) else ""),
            )
        )
    if _section(cfg, "precision"):
        rows.append(("precision", str(_section(cfg, "precision").get("used", "?"))))
    rows.extend(_sizing_rows(_section(cfg, "sizing")))
    rows.append(("steps", f"{info.get('steps') or 0:,}"))
    if info.get("best_val_ppl") is not None:
        rows.append(
            (
                "best",
                f"val ppl {formatting.number(info['best_val_ppl'], '.3f')} = "
                f"{formatting.number(info.get('best_val_bpc'), '.3f')} bits/char",
            )
        )
    ref = info.get("references")
    if isinstance(ref, dict) and ref.get("verdict"):
        rows.append(("verdict", str(ref["verdict"])))
    if info.get("parent"):
        rows.append(("parent", str(info["parent"])))
    if info.get("damaged"):
        rows.append(("damaged", str(info["damaged"])))
    if info.get("config_error"):
        rows.append(("config", str(info["config_error"])))
    rows.append(("path", str(info.get("path", ""))))
    lines = [f"{k:<10}{v}" for k, v in rows]
    evals = info.get("metrics") or []
    if evals:
        lines.append("last evaluations:")
        for m in evals:
            lines.append(
                f"  step {m.get('step', 0):>7,}  val ppl {formatting.number(m.get('val_ppl'), '.3f'):>8}  "
                f"bpc {formatting.number(m.get('val_bpc'), '.3f')}  lr {formatting.setting(m.get('lr'))}"
            )
    if info.get("metrics_skipped"):
        lines.append(f"  ({info['metrics_skipped']} damaged line(s) of metrics.jsonl skipped)")
    return "\n".join(lines)


def _section(d: dict, key: str) -> dict:
    """d[key] if it is an object (a hand-edited config may hold anything), else {}."""
    v = d.get(key)
    return v if isinstance(v, dict) else {}


def _status_text(info: dict) -> str:
    status, reason = info.get("status", "?"), info.get("reason")
    return status + (f" ({reason})" if reason and reason != status else "")


def _export_metrics(run, fmt: str, out: str | None) -> int:
    """``runs export RUN --format csv|tensorboard``: an existing run's evaluations, converted."""
    from charlm_tui.core.store.metrics_log import export_csv, export_tensorboard

    records = run.metrics()
    if fmt == "csv":
        from charlm_tui.core.model.export import check_output_path

        target = Path(out) if out else run.path / "metrics.csv"
        check_output_path(target)
        path = export_csv(records, target)
    else:
        path = export_tensorboard(records, Path(out) if out else run.path / "tensorboard-export")
    print(f"wrote {len(records):,} evaluation(s) of run {run.id} to {path}")
    if fmt == "tensorboard":
        print(f"  open them: tensorboard --logdir {path}")
    return 0
