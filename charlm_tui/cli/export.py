"""``charlm-tui export RUN``: the run's one-character step as ONNX, a JSON of its vocabulary and
settings beside it, checked against the engine's own stepper with onnxruntime."""

from __future__ import annotations

import sys
from pathlib import Path

from charlm_tui import __version__


def cmd_export(args, home: Path) -> int:
    from charlm_tui.core.model.export import CHECK_CHARS, check, export_model, require
    from charlm_tui.core.store.run_store import open_run

    require("onnx", "onnxruntime")  # before anything is read or written
    run = open_run(home, args.run)
    which = args.weights
    model, vocab = run.load_model(which)
    out = Path(args.out) if args.out else Path.cwd() / f"{run.id}-{which}.onnx"
    if out.is_dir():
        out = out / f"{run.id}-{which}.onnx"
    if out.suffix != ".onnx":
        out = out.with_name(out.name + ".onnx")
    meta = {"run_id": run.id, "weights": which, "charlm_tui": __version__}
    onnx_path, json_path = export_model(model, vocab.chars, out, meta)
    worst = check(model, onnx_path)
    print(f"wrote {onnx_path} and {json_path}")
    print(
        f"checked: onnxruntime and the engine's stepper agree over {CHECK_CHARS} characters "
        f"(largest logit difference {worst:.2e})"
    )
    if worst > 1e-3:
        print(f"warning: the exported model differs from the engine by {worst:.2e}", file=sys.stderr)
        return 1
    return 0
