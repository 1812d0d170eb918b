"""Batches straight from (memory-mapped) arrays: only the rows of the current batch become a tensor.

The training loop today slices pre-built tensors, which is fastest while a dataset fits in memory
twice; this loader is for data that should stay mapped (`bench/data.py` measures both).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import torch


def batches(
    X: npt.NDArray[Any],
    y: npt.NDArray[Any],
    batch_size: int,
    rng: np.random.Generator | None = None,
    indices: npt.NDArray[np.int64] | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled (when `rng` is given) batches over `indices` (default: every row), as float32 / y tensors."""
    order = np.arange(X.shape[0]) if indices is None else np.asarray(indices)
    if rng is not None:
        order = rng.permutation(order)
    for start in range(0, len(order), batch_size):
        # Sorted within the batch: the gather walks the file forwards, page by page.
        rows = np.sort(order[start : start + batch_size])
        xb = torch.from_numpy(np.ascontiguousarray(X[rows], dtype=np.float32))
        yb = torch.from_numpy(np.ascontiguousarray(y[rows]))
        yield xb, yb
