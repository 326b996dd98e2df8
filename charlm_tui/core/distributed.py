"""Data-parallel training under torchrun (torch.distributed + DistributedDataParallel).

Launched by `torchrun --nproc_per_node=N -m charlm_tui train ...`, which sets RANK, WORLD_SIZE,
LOCAL_RANK and the rendezvous variables. gloo on CPU, nccl on CUDA. The per-rank batch is
--batch-size; the global batch is batch size x world size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rows(self, n: int) -> slice:
        """This rank's contiguous block of n rows split as evenly as possible."""
        per, extra = divmod(n, self.world)
        start = self.rank * per + min(self.rank, extra)
        return slice(start, start + per + (1 if self.rank < extra else 0))

    def all_reduce(self, t: torch.Tensor, op: str = "sum") -> torch.Tensor:
        if self.enabled:
            import torch.distributed as tdist

            tdist.all_reduce(t, op=tdist.ReduceOp.MAX if op == "max" else tdist.ReduceOp.SUM)
        return t


SINGLE = Dist()


def from_env(device: str = "auto") -> Dist:
    """Join the process group torchrun describes; a plain run is a world of one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    import torch.distributed as tdist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not tdist.is_initialized():
        tdist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank=tdist.get_rank(), world=tdist.get_world_size(), local_rank=local_rank)


def shutdown(d: Dist, finished: bool = True) -> None:
    """Leave the process group. After a normal finish the ranks leave together (a barrier first),
    so that no rank tears down its Gloo connections while another still talks on them (seen once
    in CI as a SIGABRT, "terminate called without an active exception", in the rank that left
    first). After an error, no barrier: the other ranks may be inside a collective."""
    if d.enabled:
        import torch.distributed as tdist

        if tdist.is_initialized():
            if finished:
                try:
                    tdist.barrier()
                except RuntimeError:  # a peer is already gone (it failed): leave anyway
                    pass
            tdist.destroy_process_group()
