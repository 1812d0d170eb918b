from __future__ import annotations

import numpy as np

from deepfeat.train.splits import split_indices


def test_stratified_split_keeps_every_class_in_both_parts_and_is_seeded() -> None:
    y = np.array([0] * 50 + [1] * 10 + [2] * 2)
    split = split_indices(y, 0.2, seed=1, stratify=True)
    assert set(y[split.val]) == {0, 1, 2}
    assert set(y[split.train]) == {0, 1, 2}
    assert len(np.intersect1d(split.train, split.val)) == 0
    assert len(split.train) + len(split.val) == len(y)
    assert split.digest() == split_indices(y, 0.2, seed=1, stratify=True).digest()
    assert split.digest() != split_indices(y, 0.2, seed=2, stratify=True).digest()


def test_plain_split_sizes() -> None:
    split = split_indices(np.zeros(100), 0.25, seed=0, stratify=False)
    assert (len(split.train), len(split.val)) == (75, 25)
