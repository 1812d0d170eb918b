"""A dataset's schema, typed (`DatasetSchema`), and the pieces every reader builds it from: targets,
classes with counts.

The schema is stored as JSON on the dataset row and answered as-is by the API, so its models keep every
key they were given, and only those: a key a reader did not write is not dumped (not even as `null`),
and keys this version does not know (older or newer rows) pass through untouched. Readers of a schema
use the typed fields and their defaults instead of looking keys up.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    ConfigDict,
    GetJsonSchemaHandler,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

Modality = Literal["tabular", "image", "sequence", "text"]
TargetType = Literal["categorical", "numeric", "none"]
# An integer target with at most this many distinct values is read as class labels, not a quantity.
MAX_INTEGER_CLASSES = 50


class _Stored(BaseModel):
    """A JSON object stored as written: unknown keys kept, unset keys left out when dumped."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set}

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # The serializer above only drops keys: document the fields, not its `dict` return type.
        return handler({k: v for k, v in schema.items() if k != "serialization"})


class ClassInfo(_Stored):
    """One class of a categorical target: its code in `y`, the value it was read from, its row count."""

    label: int
    name: str | None = None
    count: int | None = None

    @property
    def display(self) -> str:
        return self.name if self.name is not None else str(self.label)


class ColumnEncoding(_Stored):
    """How a table column became features: a number (missing ones filled with `fill`), or one-hot."""

    name: str
    type: Literal["numeric", "categorical"]
    encoding: str | None = None
    categories: list[str] = []
    fill: float | str | None = None


class DatasetSchema(_Stored):
    """What a dataset holds: modality, per-row input shape, target and classes, and how it was read.
    Fields are declared in the order the readers write them, so a dump keeps the stored key order."""

    modality: Modality = "tabular"
    input_shape: list[int] = []
    n_rows: int = 0
    target: str | None = None
    target_type: TargetType = "none"
    classes: list[ClassInfo] | None = None
    feature_names: list[str] | None = None
    feature_types: dict[str, str] | None = None
    columns: list[ColumnEncoding] | None = None
    dtype: str | None = None
    missing: dict[str, int] | None = None
    missing_policy: str | None = None
    n_dropped: int | None = None
    image_size: list[int] | None = None
    color: str | None = None
    text_length: dict[str, Any] | None = None
    generator: dict[str, Any] | None = None
    format: str | None = None
    read_options: dict[str, Any] | None = None
    filename: str | None = None

    @property
    def has_target(self) -> bool:
        return self.target_type != "none"

    @property
    def class_list(self) -> list[ClassInfo]:
        return self.classes or []

    def n_class_codes(self) -> int:
        """1 + the largest class code (0 without classes): the width of a classifier's output."""
        return 1 + max((c.label for c in self.class_list), default=-1)

    def with_(self, **changes: Any) -> DatasetSchema:
        """A copy with `changes` set (and so dumped)."""
        return self.model_validate({**self.model_dump(), **changes})


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
) -> DatasetSchema:
    return DatasetSchema.model_validate(
        {
            "modality": modality,
            "input_shape": [int(d) for d in input_shape],
            "n_rows": int(n_rows),
            **target,
            **rest,
        }
    )
