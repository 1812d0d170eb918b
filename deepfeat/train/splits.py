"""Seeded train/validation splits, stratified for classification so rare classes appear in both."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Split:
    train: npt.NDArray[np.int64]
    val: npt.NDArray[np.int64]

    def digest(self) -> str:
        """Identifies the exact split for the run receipt."""
        h = hashlib.sha256()
        h.update(np.sort(self.train).tobytes())
        h.update(b"|")
        h.update(np.sort(self.val).tobytes())
        return h.hexdigest()


def split_indices(y: npt.NDArray[np.generic], val_fraction: float, seed: int, stratify: bool) -> Split:
    rng = np.random.default_rng(seed)
    n = len(y)
    if not stratify:
        order = rng.permutation(n)
        n_val = max(1, round(n * val_fraction))
        return Split(train=np.sort(order[n_val:]), val=np.sort(order[:n_val]))
    train: list[npt.NDArray[np.int64]] = []
    val: list[npt.NDArray[np.int64]] = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        # A class with one example can only train; otherwise keep at least one for validation.
        n_val = 0 if len(members) < 2 else max(1, round(len(members) * val_fraction))
        val.append(members[:n_val])
        train.append(members[n_val:])
    return Split(train=np.sort(np.concatenate(train)), val=np.sort(np.concatenate(val)))
