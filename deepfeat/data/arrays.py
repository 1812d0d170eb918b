"""The normalised form every dataset is stored in: an uncompressed `.npz` of `X` (float32) and `y`."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class ArrayDataset:
    X: npt.NDArray[np.float32]
    y: npt.NDArray[Any]
    schema: dict[str, Any]

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def write_npz(dataset: ArrayDataset, handle: io.BufferedIOBase | Any) -> None:
    # allow_pickle=False on read, and only numeric arrays on write: data never becomes code.
    np.savez(handle, X=dataset.X, y=dataset.y)


def read_npz(path: Path, schema: dict[str, Any]) -> ArrayDataset:
    with np.load(path, allow_pickle=False) as archive:
        return ArrayDataset(X=archive["X"], y=archive["y"], schema=schema)
