"""How one machine's cores are shared: each worker pool process trains with its share of them, and the
API's inference engines take what the live workers on the same host leave."""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may run on (its affinity, which a container or `taskset` narrows)."""
    return len(os.sched_getaffinity(0))


def pool_threads(torch_threads: int | None, concurrency: int, cores: int | None = None) -> int:
    """Torch threads of each worker pool process: DEEPFEAT_TORCH_THREADS, else a fair share of the cores."""
    cores = cores or os.cpu_count() or 1
    return torch_threads or max(1, cores // max(concurrency, 1))


def left_over(cores: int, taken: int) -> int:
    """Threads for the API's inference beside workers holding `taken` threads: at least one."""
    return max(1, cores - taken)
