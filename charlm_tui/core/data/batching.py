"""Mini-batches for truncated BPTT over one integer tensor already on the device.

* Sequential partitioning: the text is cut into ``batch_size`` parallel streams; batch k+1 of
  each stream continues exactly where batch k ended, so the hidden state can be carried.
  Inputs and targets are views of the same tensor, offset by one character. For training, every
  epoch after the first starts at a random offset below ``num_steps`` (as in d2l's
  ``seq_data_iter_sequential``), from (seed, epoch), so the truncation points move from epoch to
  epoch; epoch 0 and evaluation start at the text's first character.
* Random sampling: subsequences of ``num_steps`` characters at a random offset, shuffled; the
  hidden state is reset every batch. The order of an epoch depends only on (seed, epoch), so a
  resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from charlm_tui.core.config import sequential_spare, steps_per_epoch
from charlm_tui.core.distributed import SINGLE, Dist
from charlm_tui.core.errors import ConfigError


def min_chars(batch_size: int, num_steps: int) -> int:
    """Fewest characters a split needs for one full batch."""
    return batch_size * num_steps + 1


def check_fits(n: int, batch_size: int, num_steps: int, what: str = "training split") -> None:
    need = min_chars(batch_size, num_steps)
    if n < need:
        raise ConfigError(
            f"the {what} has {n:,} characters, but batch size {batch_size} x BPTT length {num_steps} "
            f"needs at least {need:,}; lower --batch-size/--num-steps or use a bigger corpus"
        )


def split_train_val(ids: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Train = the first part, validation = the last ``val_fraction`` of the text; no overlap."""
    from charlm_tui.core.data.corpus import val_split_size

    n_val = val_split_size(len(ids), val_fraction)
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]


@dataclass(frozen=True)
class Batch:
    x: torch.Tensor  # (B, T) int64
    y: torch.Tensor  # (B, T) int64, x shifted by one
    index: int  # position of this batch in its epoch

    @property
    def tokens(self) -> int:
        return self.y.numel()


def epoch_offset(n_chars: int, batch_size: int, num_steps: int, seed: int, epoch: int) -> int:
    """Where training epoch ``epoch`` of a sequential partition starts: 0 for the first, then a
    draw from (seed, epoch) in [0, spare], spare = ``sequential_spare``."""
    spare = sequential_spare(n_chars, batch_size, num_steps)
    if epoch == 0 or spare == 0:
        return 0
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return int(torch.randint(0, spare + 1, (1,), generator=g))


class SequentialBatches:
    """``batch_size`` contiguous streams; batch k covers columns [k*T, (k+1)*T) of every stream.

    With a ``seed`` (training) each epoch after the first starts at its own offset (``epoch_offset``),
    the streams keeping one length so every epoch has the same steps; without one (evaluation)
    every epoch starts at the first character. Under data parallelism the text is cut into
    batch_size x world streams and each rank keeps a contiguous block of them (``rows``), carrying
    its own state."""

    reset_state_each_batch = False

    def __init__(
        self,
        data: torch.Tensor,
        batch_size: int,
        num_steps: int,
        rows: slice | None = None,
        seed: int | None = None,
    ):
        check_fits(len(data), batch_size, num_steps)
        self.data, self.batch_size, self.num_steps, self.seed = data, batch_size, num_steps, seed
        spare = 0 if seed is None else sequential_spare(len(data), batch_size, num_steps)
        self.stream_len = (len(data) - 1 - spare) // batch_size
        self.rows = rows or slice(0, batch_size)
        self._epoch = 0
        self.x, self.y = self._streams(0)

    def _streams(self, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        n, shape = self.batch_size * self.stream_len, (self.batch_size, self.stream_len)
        d = self.data
        return d[offset : offset + n].view(shape)[self.rows], d[offset + 1 : offset + n + 1].view(shape)[self.rows]

    def offset(self, epoch: int) -> int:
        """The first character of ``epoch``'s streams."""
        if self.seed is None:
            return 0
        return epoch_offset(len(self.data), self.batch_size, self.num_steps, self.seed, epoch)

    def __len__(self) -> int:
        return -(-self.stream_len // self.num_steps)

    def batch(self, epoch: int, index: int) -> Batch:
        if epoch != self._epoch:
            self.x, self.y = self._streams(self.offset(epoch))
            self._epoch = epoch
        i = index * self.num_steps
        j = min(i + self.num_steps, self.stream_len)
        return Batch(self.x[:, i:j].long(), self.y[:, i:j].long(), index)


class RandomBatches:
    """Non-overlapping subsequences from a random offset, in a shuffled order, per epoch."""

    reset_state_each_batch = True

    def __init__(self, data: torch.Tensor, batch_size: int, num_steps: int, seed: int = 0, rows: slice | None = None):
        check_fits(len(data), batch_size, num_steps)
        self.data, self.batch_size, self.num_steps, self.seed = data, batch_size, num_steps, seed
        self.rows = rows or slice(0, batch_size)  # this rank's share of each (global) batch
        self._epoch = -1
        self._starts: torch.Tensor | None = None
        self._arange = torch.arange(num_steps, device=data.device)
        # the fewest subsequences any offset yields, so every epoch has the same length
        self.n_batches = steps_per_epoch(len(data), batch_size, num_steps, "random")

    def __len__(self) -> int:
        return self.n_batches

    def _epoch_starts(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            offset = int(torch.randint(0, self.num_steps, (1,), generator=g))
            m = (len(self.data) - 1 - offset) // self.num_steps
            perm = torch.randperm(m, generator=g)[: self.n_batches * self.batch_size]
            self._starts = (offset + perm * self.num_steps).to(self.data.device)
            self._epoch = epoch
        assert self._starts is not None
        return self._starts

    def batch(self, epoch: int, index: int) -> Batch:
        starts = self._epoch_starts(epoch)[index * self.batch_size : (index + 1) * self.batch_size][self.rows]
        idx = starts[:, None] + self._arange[None, :]
        return Batch(self.data[idx].long(), self.data[idx + 1].long(), index)


def make_batches(
    data: torch.Tensor, partition: str, batch_size: int, num_steps: int, seed: int = 0, rank: int = 0, world: int = 1
):
    """Batches for one rank: ``batch_size`` is per rank; the global batch is batch_size x world."""
    rows = slice(rank * batch_size, (rank + 1) * batch_size)
    if partition == "sequential":
        return SequentialBatches(data, batch_size * world, num_steps, rows, seed)
    if partition == "random":
        return RandomBatches(data, batch_size * world, num_steps, seed, rows)
    raise ConfigError(f"unknown partition {partition!r}; use sequential or random")


def eval_streams(data: torch.Tensor, batch_size: int, num_steps: int, dist: Dist = SINGLE) -> SequentialBatches:
    """Sequential batches over a validation split, with as many streams as it can fill; under
    data parallelism each rank gets a block of those streams (possibly none)."""
    b = max(1, min(batch_size, (len(data) - 1) // max(1, num_steps)))
    t = min(num_steps, max(1, (len(data) - 1) // b))
    return SequentialBatches(data, b, t, dist.rows(b))
