"""What the training loop needs to know about data parallelism: which rank it is and how to agree.

A run with `training.world_size` W trains on W processes (ranks). Each holds the whole model and the
whole (in-memory) dataset; every global batch of `batch_size` samples is cut into W contiguous shards,
one per rank, and DDP averages the ranks' gradients in backward. Each rank's loss is weighted by its
share of the batch, so the averaged gradient is exactly the gradient of the global batch's mean loss —
the same step one process would take — even when `batch_size` does not divide by W.

`SINGLE` (world size 1) makes every method a no-op, so the loop reads the same either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.distributed_c10d import PrefixStore
from torch.nn.parallel import DistributedDataParallel

from deepfeat.gpus import process_slot
from deepfeat.train.objectives import MetricSums

_SCALARS = ("loss", "abs_error", "sq_error", "target_sum", "target_sq_sum", "count")


@dataclass
class Ranks:
    rank: int = 0
    world_size: int = 1
    backend: str | None = None  # gloo | nccl; None: one process, no process group
    store: Any = None  # the run's TCPStore (rank 0 serves it): where ranks meet before training
    startup_timeout_s: float = 300.0
    timeout_s: float = 30.0  # of every training collective: a hung rank fails the attempt after this
    lost: Callable[[], bool] | None = None  # rank 0: has a follower process exited?
    group: Any = field(default=None, init=False)  # the process group, once the ranks have met

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that reports, checkpoints and whose weights are the run's."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def start(self, should_stop: Callable[[], bool]) -> bool:
        """Meet the other ranks once each has built its model and data: True to train, False when rank 0
        was told to stop meanwhile. Rank 0 waits polling, asking `should_stop` (which renews its lease)
        and watching its followers, so a slow start-up neither loses the lease nor trips the short
        collective timeout, and a follower that dies while starting fails the attempt at once."""
        if not self.distributed:
            return True
        self.store.set(f"ready/{self.rank}", "1")
        if not self.is_main:
            self.store.wait(["go"])  # the store's own timeout is the start-up timeout
            if self.store.get("go") != b"1":
                return False
            self._join()
            return True
        ready = [f"ready/{r}" for r in range(1, self.world_size)]
        deadline = time.monotonic() + self.startup_timeout_s
        while not self.store.check(ready):
            if self.lost is not None and self.lost():
                raise RuntimeError("a rank exited while the ranks were starting")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the ranks timed out starting ({self.startup_timeout_s:g} s)")
            try:
                stop = should_stop()
            except Exception:
                self.store.set("go", "0")
                raise
            if stop:
                self.store.set("go", "0")
                return False
            time.sleep(0.05)
        self.store.set("go", "1")
        self._join()
        return True

    def _join(self) -> None:
        """Form the process group (every rank is up, so this is quick) with the short timeout."""
        if self.backend == "nccl":
            gpu = process_slot(torch.cuda.device_count(), self.rank)  # the pool process's GPU, then on
            torch.cuda.set_device(torch.device(gpu.device))
        dist.init_process_group(
            self.backend,
            store=PrefixStore("pg", self.store),
            rank=self.rank,
            world_size=self.world_size,
            timeout=timedelta(seconds=self.timeout_s),
        )
        self.group = dist.group.WORLD

    def leave(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module to train through: DDP across the ranks (it broadcasts rank 0's weights), or the
        model itself."""
        if not self.distributed:
            return model
        device_ids = [model_device(model).index] if self.backend == "nccl" else None
        return DistributedDataParallel(model, device_ids=device_ids, process_group=self.group)

    def shard(self, batch: torch.Tensor) -> tuple[torch.Tensor, float]:
        """This rank's part of a global batch of indices and the weight of its mean loss.

        Shards differ by at most one sample (the first `len % W` ranks get one more). A rank left with
        nothing (a tail batch smaller than W) trains on one sample at weight 0: it still joins the
        gradient all-reduce, adds nothing to it, and its metrics skip that sample."""
        if not self.distributed:
            return batch, 1.0
        mine = batch.tensor_split(self.world_size)[self.rank]
        if len(mine) == 0:
            return batch[:1], 0.0
        return mine, len(mine) * self.world_size / len(batch)

    def part(self, n: int) -> slice:
        """This rank's contiguous share of `n` rows (validation: every row scored once, on one rank)."""
        if not self.distributed:
            return slice(0, n)
        bounds = torch.arange(n).tensor_split(self.world_size)[self.rank]
        return slice(int(bounds[0]), int(bounds[-1]) + 1) if len(bounds) else slice(0, 0)

    def agree_to_stop(self, should_stop: Callable[[], bool]) -> bool:
        """Rank 0 asks `should_stop` (cancel flag, lease, preemption); every rank gets the answer in the
        same step. An exception rank 0 raises (preempted, lease lost) stops the others first."""
        if not self.distributed:
            return should_stop()
        error: BaseException | None = None
        try:
            stop = should_stop()
        except Exception as exc:
            stop, error = True, exc
        flag = torch.tensor([1 if stop else 0], device=self._device())
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self.group)
        if error is not None:
            raise error
        return bool(flag.item())

    def reduce(self, sums: MetricSums) -> MetricSums:
        """The global sums of every rank's metric sums (classification labels are gathered)."""
        if not self.distributed:
            return sums
        device = self._device()
        cells = 0 if sums.confusion is None else sums.confusion.numel()
        values = [float(getattr(sums, k)) for k in _SCALARS] + [float(cells)]
        scalars = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(scalars, group=self.group)
        *totals, _ = scalars.tolist()
        total = MetricSums(**dict(zip(_SCALARS, totals, strict=True)))
        total.count = int(total.count)
        # Decided from a reduced value, so every rank joins the confusion's reduce or none does (a rank
        # with no rows has no counts of its own: it adds zeros of the others' size).
        size = torch.tensor([cells], dtype=torch.int64, device=device)
        dist.all_reduce(size, op=dist.ReduceOp.MAX, group=self.group)
        if int(size):
            local = (
                sums.confusion.to(device=device, dtype=torch.int64)
                if sums.confusion is not None
                else torch.zeros(int(size), dtype=torch.int64, device=device)
            )
            dist.all_reduce(local, group=self.group)
            total.confusion = local
        return total

    def sync_buffers(self, model: nn.Module) -> None:
        """Give every rank rank 0's buffers (BatchNorm statistics) before it evaluates its shard."""
        if self.distributed:
            for buffer in model.buffers():
                dist.broadcast(buffer, 0, group=self.group)

    def _device(self) -> torch.device:
        return (
            torch.device("cuda", torch.cuda.current_device())
            if self.backend == "nccl"
            else torch.device("cpu")
        )


SINGLE = Ranks()


def model_device(model: nn.Module) -> torch.device:
    return next(iter(model.parameters())).device
