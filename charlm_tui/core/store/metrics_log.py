"""A run's metrics elsewhere: TensorBoard event files (live, as a trainer sink, or converted after the
fact) and CSV. TensorBoard is what Lightning logs to by default and what people open first; CSV
opens anywhere. TensorBoard is an optional extra (``pip install 'charlm-tui[tensorboard]'``).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from charlm_tui.core.atomic import atomic_writer
from charlm_tui.core.config import TrainEvent
from charlm_tui.core.errors import ConfigError

TENSORBOARD_DIR = "tensorboard"  # in the run folder: `tensorboard --logdir RUN_FOLDER`
# metrics.jsonl field -> TensorBoard tag
TAGS = {
    "train_loss": "loss/train",
    "val_nll": "loss/val",
    "val_ppl": "val/perplexity",
    "val_bpc": "val/bits_per_char",
    "lr": "train/lr",
    "chars_per_s": "train/chars_per_s",
}
CSV_COLUMNS = ("step", "epoch", "elapsed", "train_loss", "val_nll", "val_ppl", "val_bpc", "lr", "chars_per_s", "time")


def require_tensorboard():
    """torch's SummaryWriter, or ConfigError saying what to install."""
    try:
        import tensorboard  # noqa: F401 (torch's writer needs it)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "logging to TensorBoard needs the tensorboard package: pip install 'charlm-tui[tensorboard]' "
            "(or pip install tensorboard)"
        ) from None
    return SummaryWriter


def write_record(writer, record: dict) -> None:
    """One evaluation (a metrics.jsonl record) as scalars at its step."""
    step = int(record["step"])
    for key, tag in TAGS.items():
        v = record.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            writer.add_scalar(tag, float(v), step)


class TensorBoardSink:
    """A trainer sink: each evaluation's figures go to event files in ``logdir`` as they come."""

    def __init__(self, logdir: Path):
        self.writer = require_tensorboard()(log_dir=str(logdir))

    def on_event(self, ev: TrainEvent) -> None:
        if ev.kind == "eval":
            write_record(self.writer, ev.to_json())
            self.writer.flush()  # a killed run keeps what it logged
        elif ev.kind == "done":
            self.writer.close()


def export_tensorboard(records: list[dict], out: Path) -> Path:
    """Every evaluation of a run as TensorBoard event files in the folder ``out``."""
    writer = require_tensorboard()(log_dir=str(out))
    try:
        for r in records:
            write_record(writer, r)
    finally:
        writer.close()
    return out


def export_csv(records: list[dict], out: Path) -> Path:
    """Every evaluation of a run as one CSV row (written whole or not at all)."""
    with atomic_writer(out, "w") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in records:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_COLUMNS})
    return out
