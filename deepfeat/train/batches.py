"""Feeding the loop from a memory map: rows gathered per batch, never the whole array copied.

A worker's dataset is a memory-mapped `.npy` in its local cache. `MappedRows` keeps the mapped array and
the split's row numbers and gathers one batch at a time (converting that batch to float32), so resident
memory is the batch plus what the kernel keeps in its page cache, which it may drop: a dataset larger
than the worker's memory trains. Gathering `x[rows[idx]]` from mapped pages costs what gathering from a
pre-built tensor does once the pages are cached (bench/s3.py measures it side by side).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import torch

from deepfeat.nn.blocks import InputNorm

STATS_CHUNK_ROWS = 65536  # up to this many rows, the input scaling is `norm.fit` over them all at once
STATS_CHUNK_BYTES = 8 * 2**20  # beyond, a pass reads at most this much (in float64) at a time


class Batches(Protocol):
    """What the loop reads: the number of rows, and the rows at `idx` (a tensor of positions or a slice)."""

    def __len__(self) -> int: ...

    def take(self, idx: torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor]: ...


class MappedRows:
    """The rows `rows` of a (mapped) array `x`, shaped `input_shape`, with their targets `y`."""

    def __init__(
        self, x: npt.NDArray[Any], y: torch.Tensor, rows: torch.Tensor, input_shape: list[int]
    ) -> None:
        self.x = torch.from_numpy(x).reshape(-1, *input_shape)  # a view of the map: nothing is read
        self.y = y
        self.rows = rows

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def take(self, idx: torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor]:
        picked = self.rows[idx]
        return self.x[picked].float(), self.y[picked]


def mappable(x: npt.NDArray[Any]) -> bool:
    """Numeric arrays are fed from the map; text is tokenised first (and held whole) as before."""
    return isinstance(x, np.ndarray) and x.dtype.kind in "fiub" and bool(x.flags.writeable)


def fit_input_norm(norm: InputNorm, data: MappedRows) -> None:
    """`norm.fit` over the rows of `data` without holding them all: a chunk (≤ 8 MiB) at a time, merged
    with Chan's parallel formula in float64. Up to 65536 rows it is exactly `norm.fit` over them all."""
    if len(data) <= STATS_CHUNK_ROWS or norm.mode == "none":
        norm.fit(data.take(slice(None))[0])
        return
    count, mean, m2 = 0, None, None
    low = high = None
    width = max(1, math.prod(data.x.shape[1:]))
    step = max(1, min(STATS_CHUNK_ROWS, STATS_CHUNK_BYTES // (8 * width)))
    for start in range(0, len(data), step):
        chunk = data.take(slice(start, start + step))[0].double()
        if norm.mode == "minmax":
            lo, hi = chunk.amin(dim=0), chunk.amax(dim=0)
            low = lo if low is None else torch.minimum(low, lo)
            high = hi if high is None else torch.maximum(high, hi)
            continue
        n = chunk.shape[0]
        chunk_mean = chunk.mean(dim=0)
        chunk_m2 = chunk.sub_(chunk_mean).square_().sum(dim=0)  # in place: one chunk's memory, not three
        if mean is None or m2 is None:
            count, mean, m2 = n, chunk_mean, chunk_m2
            continue
        delta = chunk_mean - mean
        total = count + n
        mean = mean + delta * (n / total)
        m2 = m2 + chunk_m2 + delta**2 * (count * n / total)
        count = total
    if norm.mode == "minmax":
        assert low is not None
        assert high is not None
        span = high - low
        norm.mean.copy_(low.float())
        norm.std.copy_(torch.where(span > 1e-6, span, torch.ones_like(span)).float())
        return
    assert mean is not None
    assert m2 is not None
    std = (m2 / max(count - 1, 1)).sqrt()
    norm.mean.copy_(mean.float())
    norm.std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)).float())


def as_labels(y: npt.NDArray[Any], task: str) -> torch.Tensor:
    return torch.from_numpy(np.asarray(y, dtype=np.int64 if task == "classification" else np.float32))
