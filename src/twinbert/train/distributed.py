"""Data-parallel training across processes started by torchrun (gloo on CPU, nccl on GPU).

Every process holds the whole model and takes its share of each batch; after backward the gradients
are summed over processes (each process weighs its loss by its share of the batch, so the sum is the
gradient of the whole batch's mean loss, the same as one process with the combined batch).
Outside torchrun everything here is a no-op.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as td


@dataclass
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def shard(self, rows: list[int]) -> list[int]:
        """This process's contiguous share of a batch."""
        if not self.active:
            return rows
        size = -(-len(rows) // self.world)
        return rows[self.rank * size:(self.rank + 1) * size]

    def all_reduce_grads(self, params) -> None:
        if not self.active:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        td.all_reduce(flat, op=td.ReduceOp.SUM)
        offset = 0
        for p, g in zip(params, grads):
            n = g.numel()
            p.grad = flat[offset:offset + n].view_as(p).clone()
            offset += n

    def sum(self, value: float) -> float:
        """The sum of `value` over processes: each holds its share of the batch's mean loss, weighted by
        its share of the batch, so the sum is the mean loss of the whole batch."""
        if not self.active:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        td.all_reduce(t, op=td.ReduceOp.SUM)
        return float(t.item())

    def broadcast_flag(self, flag: bool) -> bool:
        if not self.active:
            return flag
        t = torch.tensor([1 if flag else 0], dtype=torch.int64)
        td.broadcast(t, src=0)
        return bool(t.item())

    def barrier(self) -> None:
        if self.active:
            td.barrier()


def current() -> Dist:
    """The process group torchrun set up (initialised on first use), or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not td.is_initialized():
        td.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return Dist(td.get_rank(), td.get_world_size())


def device_for_rank(requested: str | None) -> str | None:
    """Under torchrun with CUDA, each process takes the GPU of its LOCAL_RANK."""
    if requested is None and int(os.environ.get("WORLD_SIZE", "1")) > 1 and torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return requested
