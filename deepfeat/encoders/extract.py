"""Batch extraction: a whole dataset through an encoder, chunk by chunk, into an N×D float32 `.npy`.

The same `Embedder` that serves `/embed` does the work (`prepare_rows` → `embed`), so a row's vector is
the one `/embed` answers for the same input. The file is written through a memory map: a dataset of
any size costs one chunk of memory. `tick(rows_done)` runs after every chunk; it raises to stop
(cancel, lost lease, preemption) and is where the caller heartbeats.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from deepfeat.encoders.embedder import Embedder, EmbedOptions

DEFAULT_CHUNK = 64


def write_embeddings(
    embedder: Embedder,
    options: EmbedOptions,
    X: npt.NDArray[Any],
    path: Path,
    tick: Callable[[int], None],
    chunk: int = DEFAULT_CHUNK,
) -> int:
    """Embed every row of `X` into `path` (a `.npy` of float32, N×D); returns D."""
    n = int(X.shape[0])
    out: np.memmap[Any, np.dtype[np.float32]] | None = None
    dim = 0
    for start in range(0, n, chunk):
        rows = X[start : start + chunk]
        vectors = np.stack(embedder.embed(embedder.prepare_rows(rows), options)).astype(np.float32)
        vectors = vectors.reshape(len(rows), -1)
        if out is None:
            dim = int(vectors.shape[1])
            out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
        out[start : start + len(rows)] = vectors
        tick(start + len(rows))
    if out is None:  # no rows: an empty 0×0 file, still a valid .npy
        np.save(path, np.zeros((0, 0), dtype=np.float32), allow_pickle=False)
    else:
        out.flush()
        del out
    return dim


def write_row_ids(n: int, path: Path) -> None:
    """Row numbers of the dataset (0..N-1, int64), aligned with the embeddings' rows."""
    np.save(path, np.arange(n, dtype=np.int64), allow_pickle=False)
