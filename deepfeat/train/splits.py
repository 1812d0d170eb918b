"""Seeded train/validation/test splits, stratified for classification so rare classes appear in each."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


def _empty() -> npt.NDArray[np.int64]:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Split:
    train: npt.NDArray[np.int64]
    val: npt.NDArray[np.int64]
    test: npt.NDArray[np.int64] = field(default_factory=_empty)

    def digest(self) -> str:
        """Identifies the exact split for the run receipt."""
        h = hashlib.sha256()
        h.update(np.sort(self.train).tobytes())
        h.update(b"|")
        h.update(np.sort(self.val).tobytes())
        if len(self.test):  # train/val-only splits keep the digest they always had
            h.update(b"|")
            h.update(np.sort(self.test).tobytes())
        return h.hexdigest()

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def _check(val_fraction: float, test_fraction: float) -> None:
    if not (0 < val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction {val_fraction} and test_fraction {test_fraction} must be in (0, 1) and sum below 1"
        )


def split_indices(
    y: npt.NDArray[np.generic],
    val_fraction: float,
    seed: int,
    stratify: bool,
    test_fraction: float = 0.0,
) -> Split:
    """Same `y`, fractions and seed → the same split. Stratified: each class is split on its own, and a
    class keeps at least one training example (then one validation, then one test example)."""
    _check(val_fraction, test_fraction)
    rng = np.random.default_rng(seed)
    n = len(y)
    if not stratify:
        order = rng.permutation(n)
        n_test = round(n * test_fraction) if test_fraction else 0
        n_val = max(1, round(n * val_fraction))
        return Split(
            train=np.sort(order[n_val + n_test :]),
            val=np.sort(order[:n_val]),
            test=np.sort(order[n_val : n_val + n_test]),
        )
    train: list[npt.NDArray[np.int64]] = []
    val: list[npt.NDArray[np.int64]] = []
    test: list[npt.NDArray[np.int64]] = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        size = len(members)
        # A class with one example can only train; otherwise keep at least one for validation.
        n_val = 0 if size < 2 else max(1, round(size * val_fraction))
        n_test = 0 if not test_fraction or size < 3 else max(1, round(size * test_fraction))
        n_val, n_test = min(n_val, size - 1), min(n_test, max(0, size - 1 - n_val))
        val.append(members[:n_val])
        test.append(members[n_val : n_val + n_test])
        train.append(members[n_val + n_test :])
    return Split(
        train=np.sort(np.concatenate(train)),
        val=np.sort(np.concatenate(val)),
        test=np.sort(np.concatenate(test)) if test else _empty(),
    )
