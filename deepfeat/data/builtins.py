"""Built-in data sets shipped inside installed packages (no download at run time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn import datasets as skd

from deepfeat.data.arrays import ArrayDataset
from deepfeat.errors import NotFound


def _sklearn(loader: Callable[..., Any], task: str, image_shape: list[int] | None = None) -> ArrayDataset:
    bunch = loader()
    X = np.ascontiguousarray(bunch.data, dtype=np.float32)
    is_classification = task == "classification"
    y = bunch.target.astype(np.int64 if is_classification else np.float32)
    schema: dict[str, Any] = {
        "modality": "image" if image_shape else "tabular",
        "input_shape": image_shape or [X.shape[1]],
        "feature_names": [str(n) for n in getattr(bunch, "feature_names", [])][: X.shape[1]],
        "target": "label" if is_classification else "target",
        "target_type": "categorical" if is_classification else "numeric",
        "n_rows": int(X.shape[0]),
    }
    if is_classification:
        labels, counts = np.unique(y, return_counts=True)
        names = list(getattr(bunch, "target_names", labels))
        schema["classes"] = [
            {"label": int(lbl), "name": str(names[int(lbl)]), "count": int(c)}
            for lbl, c in zip(labels, counts, strict=True)
        ]
    return ArrayDataset(X=X, y=y, schema=schema)


BUILTINS: dict[str, Callable[[], ArrayDataset]] = {
    "digits": lambda: _sklearn(skd.load_digits, "classification", image_shape=[1, 8, 8]),
    "iris": lambda: _sklearn(skd.load_iris, "classification"),
    "wine": lambda: _sklearn(skd.load_wine, "classification"),
    "breast_cancer": lambda: _sklearn(skd.load_breast_cancer, "classification"),
    "diabetes": lambda: _sklearn(skd.load_diabetes, "regression"),
}


def load_builtin(name: str) -> ArrayDataset:
    try:
        factory = BUILTINS[name]
    except KeyError:
        raise NotFound(f"no built-in data set {name!r}; known: {', '.join(sorted(BUILTINS))}") from None
    return factory()
