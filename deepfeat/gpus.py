"""Which GPU each process of a worker uses: one device per pool process, spread round-robin.

A worker started with `--concurrency N` on a machine where it sees G GPUs gives pool process `i` (the
index Celery's prefork pool numbers its children by, 0..N-1, kept when a child is replaced) torch's
device `cuda:{i mod G}`: every GPU is used, and two runs share one only when N > G. G counts the GPUs
this process sees, so `CUDA_VISIBLE_DEVICES=3,5` gives G = 2, torch's `cuda:0` is GPU 3 and `cuda:1` is
GPU 5. Training and extraction in that process both use it; a data-parallel run's rank r takes the r-th
device after it (`(i + r) mod G`), so its ranks never share a GPU. G = 0: everything runs on the CPU.

The assignment is a pure function of (index, G, CUDA_VISIBLE_DEVICES), so the worker's main process —
which must never initialise CUDA — computes the same answer for its heartbeat (`workers.slots`) as each
child does for itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_pool_index: int | None = None


@dataclass(frozen=True)
class SlotDevice:
    """Where one pool process's GPU work runs."""

    index: int | None  # the pool process's index; None: not a pool child (solo worker, API, tests)
    device: str  # `cpu`, or `cuda:k` in torch's numbering of the GPUs this process sees
    gpu: str | None  # that GPU as CUDA_VISIBLE_DEVICES names it (a number or a UUID); None on the CPU

    def describe(self) -> str:
        if self.gpu is None or self.device == f"cuda:{self.gpu}":
            return self.device
        return f"{self.device} (GPU {self.gpu})"


def visible_gpus(gpus: int, cuda_visible_devices: str | None) -> list[str]:
    """The ids of the GPUs torch numbers 0..G-1 here: `CUDA_VISIBLE_DEVICES`' entries in its order, or
    0..G-1 when it is unset. Only the first G count (CUDA ignores entries after an invalid one)."""
    if gpus <= 0:
        return []
    if cuda_visible_devices is None:
        return [str(i) for i in range(gpus)]
    named = [part.strip() for part in cuda_visible_devices.split(",") if part.strip()]
    return [named[i] if i < len(named) else str(i) for i in range(gpus)]


def assign(index: int | None, gpus: int, cuda_visible_devices: str | None, rank: int = 0) -> SlotDevice:
    """The device of pool process `index` (rank `rank` of its data-parallel run) with `gpus` visible."""
    visible = visible_gpus(gpus, cuda_visible_devices)
    if not visible:
        return SlotDevice(index, "cpu", None)
    k = ((index or 0) + rank) % len(visible)
    return SlotDevice(index, f"cuda:{k}", visible[k])


def claim_slot(index: int | None) -> None:
    """Called once in each pool child (and in a data-parallel follower, with its rank 0's index)."""
    global _pool_index
    _pool_index = index


def pool_index() -> int | None:
    """This process's pool index, or None when it is not a pool child."""
    return _pool_index


def process_slot(gpus: int, rank: int = 0) -> SlotDevice:
    """This process's device, given the GPUs it sees (`torch.cuda.device_count()` in the caller)."""
    return assign(_pool_index, gpus, os.environ.get("CUDA_VISIBLE_DEVICES"), rank)
