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


def test_three_way_split_is_stratified_disjoint_and_complete() -> None:
    y = np.array([0] * 60 + [1] * 30 + [2] * 3 + [3] * 1)
    split = split_indices(y, 0.2, seed=7, stratify=True, test_fraction=0.2)
    parts = [split.train, split.val, split.test]
    assert sum(len(p) for p in parts) == len(y)
    assert len(np.unique(np.concatenate(parts))) == len(y)
    for label in (0, 1, 2):
        assert all(label in set(y[p]) for p in parts), label
    assert 3 in set(y[split.train])  # a class of one only trains
    assert split.sizes()["test"] == 12 + 6 + 1
    again = split_indices(y, 0.2, seed=7, stratify=True, test_fraction=0.2)
    assert split.digest() == again.digest()
    assert split.digest() != split_indices(y, 0.2, seed=7, stratify=True).digest()


def test_without_a_test_part_the_split_is_unchanged() -> None:
    y = np.arange(50) % 5
    old_style = split_indices(y, 0.3, seed=2, stratify=True)
    assert len(old_style.test) == 0
    assert old_style.digest() == split_indices(y, 0.3, seed=2, stratify=True, test_fraction=0.0).digest()


def test_fractions_are_checked() -> None:
    import pytest

    with pytest.raises(ValueError, match="sum below 1"):
        split_indices(np.zeros(10), 0.6, seed=0, stratify=False, test_fraction=0.5)
