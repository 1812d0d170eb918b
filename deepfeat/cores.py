"""How one machine's cores are shared: each worker pool process trains with its share of them, the API's
inference engines take what the live workers on the same host leave, and several API processes on one
port split the cores between them."""

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


def api_process_threads(processes: int, cores: int) -> int:
    """Inference threads of each of `processes` API processes on `cores` cores: an equal share, at
    least one. Each process runs its own batches; two processes each taking every core served a third
    of what either did alone (32 clients, MiniLM, 2 cores), while two with one thread each served
    1.33x one process with two."""
    return max(1, cores // max(processes, 1))
