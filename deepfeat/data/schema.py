"""Schema pieces shared by every reader: targets, classes with counts, the dict a dataset answers with."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Modality = Literal["tabular", "image", "sequence", "text"]
TargetType = Literal["categorical", "numeric", "none"]
# An integer target with at most this many distinct values is read as class labels, not a quantity.
MAX_INTEGER_CLASSES = 50


def encode_labels(values: npt.NDArray[Any]) -> tuple[npt.NDArray[np.int64], list[dict[str, Any]]]:
    """Class codes 0..K-1 (sorted by value) and `classes`: `[{label, name, count}]`."""
    uniques, codes, counts = np.unique(values, return_inverse=True, return_counts=True)
    classes = [
        {"label": i, "name": _name(u), "count": int(c)}
        for i, (u, c) in enumerate(zip(uniques.tolist(), counts.tolist(), strict=True))
    ]
    return codes.astype(np.int64).reshape(-1), classes


def _name(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def infer_target_type(values: npt.NDArray[Any], requested: str | None) -> TargetType:
    """Text and booleans are categorical; integers with few distinct values too; other numbers numeric."""
    if requested in ("categorical", "numeric"):
        return requested  # type: ignore[return-value]
    if values.dtype.kind in ("U", "S", "O", "b"):
        return "categorical"
    if values.dtype.kind in ("i", "u") or (
        values.dtype.kind == "f" and len(values) and bool(np.all(np.mod(values, 1) == 0))
    ):
        return "categorical" if len(np.unique(values)) <= MAX_INTEGER_CLASSES else "numeric"
    return "numeric"


def target_arrays(
    values: npt.NDArray[Any] | None, requested: str | None, name: str | None
) -> tuple[npt.NDArray[Any], dict[str, Any]]:
    """`y` and the target part of the schema for raw target `values` (None: no target)."""
    if values is None:
        return np.zeros(0, dtype=np.float32), {"target": None, "target_type": "none", "classes": None}
    kind = infer_target_type(values, requested)
    if kind == "categorical":
        codes, classes = encode_labels(values)
        return codes, {"target": name, "target_type": kind, "classes": classes}
    return values.astype(np.float32), {"target": name, "target_type": kind, "classes": None}


def base_schema(
    modality: Modality,
    input_shape: list[int],
    n_rows: int,
    target: dict[str, Any],
    **rest: Any,
) -> dict[str, Any]:
    return {
        "modality": modality,
        "input_shape": [int(d) for d in input_shape],
        "n_rows": int(n_rows),
        **target,
        **rest,
    }
