"""Tables (CSV, TSV, Parquet) to arrays: numeric columns as they are, categorical ones one-hot encoded.

The encoding (each categorical column's categories, imputed fill values) is part of the schema, so
prediction inputs can be encoded the same way later with `encode_records`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from deepfeat.data.arrays import ArrayDataset
from deepfeat.data.errors import DataError
from deepfeat.data.schema import base_schema, target_arrays

MissingPolicy = Literal["refuse", "drop", "impute"]
_NUMBER = r"^\s*[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|inf|infinity|nan)\s*$"


@dataclass(frozen=True)
class TableOptions:
    target: str | None = None
    missing: MissingPolicy = "refuse"
    target_type: str | None = None
    max_categories: int = 1000
    row_offset: int = 0  # added to 0-based row indices in messages (1 for "first data row is row 1")


def _numeric_mask(column: pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    matched = pc.match_substring_regex(column, _NUMBER, ignore_case=True).fill_null(False)
    mask: npt.NDArray[np.bool_] = np.asarray(matched.to_numpy(zero_copy_only=False), dtype=bool)
    return mask


def _column_values(
    name: str, column: pa.ChunkedArray, max_categories: int
) -> tuple[str, npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """(type, values, missing mask) of a column; text that is mostly numbers is a mistake, not categories."""
    missing = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    kind = column.type
    if pa.types.is_boolean(kind):
        values = np.asarray(column.fill_null(False).to_numpy(zero_copy_only=False)).astype(np.float64)
        return "numeric", values, missing
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        values = np.asarray(pc.cast(column, pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False))
        missing |= np.isnan(values)
        return "numeric", values, missing
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
        column = pc.cast(column, pa.string()) if pa.types.is_dictionary(kind) else column
        stripped = pc.utf8_trim_whitespace(column)
        blank = np.asarray(pc.equal(stripped, "").fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
        missing |= blank
        present = ~missing
        numeric = _numeric_mask(stripped) & present
        if present.any() and numeric.sum() * 2 > present.sum():
            bad = np.flatnonzero(present & ~numeric)
            if len(bad):
                value = stripped[int(bad[0])].as_py()
                raise DataError(
                    f"column {name!r}, row {int(bad[0]) + 1}: {value!r} is not a number "
                    f"(the column is numeric; {len(bad)} such value(s))",
                    row=int(bad[0]) + 1,
                    column=name,
                )
            text = np.where(missing, "0", np.asarray(stripped.to_numpy(zero_copy_only=False), dtype=object))
            values = text.astype(np.float64)
            missing |= np.isnan(values)
            return "numeric", values, missing
        values = np.asarray(stripped.fill_null("").to_numpy(zero_copy_only=False), dtype=object).astype(str)
        n_distinct = len(np.unique(values[present]))
        if n_distinct > max_categories:
            raise DataError(
                f"column {name!r} has {n_distinct} distinct text values, more than the "
                f"{max_categories} a categorical feature may have: is it an id or free text? "
                "Drop it before uploading",
                column=name,
            )
        return "categorical", values, missing
    raise DataError(f"column {name!r} has type {kind}, which is neither numbers nor text", column=name)


def _first(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def table_to_dataset(table: pa.Table, options: TableOptions) -> ArrayDataset:
    """Check and encode `table`; every refusal names the column and the 1-based data row."""
    if table.num_rows == 0:
        raise DataError("the table has a header but no data rows")
    names = [str(n) for n in table.column_names]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DataError(f"column {dup!r} appears more than once in the header", column=dup)
    if options.target is not None and options.target not in names:
        raise DataError(
            f"target column {options.target!r} is not in the table; columns: {', '.join(names)}",
            column=options.target,
        )
    columns: dict[str, tuple[str, npt.NDArray[Any], npt.NDArray[np.bool_]]] = {
        name: _column_values(name, table.column(i), options.max_categories) for i, name in enumerate(names)
    }
    missing_counts = {n: int(m.sum()) for n, (_, _, m) in columns.items()}
    keep = np.ones(table.num_rows, dtype=bool)
    if options.target is not None:
        t_missing = columns[options.target][2]
        if t_missing.any() and options.missing != "drop":
            row = _first(t_missing) + 1
            raise DataError(
                f"column {options.target!r} (the target), row {row}: value missing "
                f"({int(t_missing.sum())} row(s)); a target is never imputed: fix them or pass missing=drop",
                row=row,
                column=options.target,
            )
    for name, (kind, values, missing) in columns.items():
        if kind == "numeric":
            infinite = np.isinf(values) & ~missing
            if infinite.any():
                row = _first(infinite) + 1
                raise DataError(
                    f"column {name!r}, row {row}: {values[row - 1]} is not a finite number",
                    row=row,
                    column=name,
                )
        if missing.any():
            if options.missing == "refuse":
                row = _first(missing) + 1
                raise DataError(
                    f"column {name!r}, row {row}: value missing ({int(missing.sum())} row(s) in this "
                    "column); pass missing=drop to drop such rows or missing=impute to fill them",
                    row=row,
                    column=name,
                )
            if options.missing == "drop":
                keep &= ~missing
    if not keep.any():
        raise DataError("every row has a missing value; nothing is left after missing=drop")

    features: list[dict[str, Any]] = []
    blocks: list[npt.NDArray[np.float32]] = []
    feature_names: list[str] = []
    for name, (kind, values, missing) in columns.items():
        if name == options.target:
            continue
        values, missing = values[keep], missing[keep]
        if kind == "numeric":
            fill = float(values[~missing].mean()) if (~missing).any() else 0.0
            column = np.where(missing, fill, values).astype(np.float32)
            blocks.append(column[:, None])
            features.append({"name": name, "type": "numeric", **({"fill": fill} if missing.any() else {})})
            feature_names.append(name)
        else:
            present = values[~missing]
            categories, counts = np.unique(present, return_counts=True)
            fill_cat = str(categories[int(np.argmax(counts))]) if len(categories) else ""
            filled = np.where(missing, fill_cat, values)
            onehot = (filled[:, None] == categories[None, :]).astype(np.float32)
            blocks.append(onehot)
            features.append(
                {
                    "name": name,
                    "type": "categorical",
                    "encoding": "onehot",
                    "categories": [str(c) for c in categories],
                    **({"fill": fill_cat} if missing.any() else {}),
                }
            )
            feature_names.extend(f"{name}={c}" for c in categories)
    if not blocks:
        raise DataError("the table has no feature columns besides the target")
    X = np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32)
    raw_target = columns[options.target][1][keep] if options.target is not None else None
    y, target = target_arrays(raw_target, options.target_type, options.target)
    if raw_target is None:
        y = np.zeros(X.shape[0], dtype=np.float32)
    schema = base_schema(
        "tabular",
        [X.shape[1]],
        X.shape[0],
        target,
        feature_names=feature_names,
        feature_types={f["name"]: f["type"] for f in features},
        columns=features,
        missing=missing_counts,
        missing_policy=options.missing,
        n_dropped=int((~keep).sum()),
    )
    return ArrayDataset(X=X, y=y, schema=schema)


def encode_records(schema: dict[str, Any], records: list[dict[str, Any]]) -> npt.NDArray[np.float32]:
    """Encode prediction inputs (one dict per row, keyed by column name) exactly as the dataset was."""
    rows: list[list[float]] = []
    for i, record in enumerate(records):
        row: list[float] = []
        for col in schema["columns"]:
            name = col["name"]
            value = record.get(name, col.get("fill"))
            if value is None:
                raise DataError(f"input {i}: column {name!r} is missing", row=i + 1, column=name)
            if col["type"] == "numeric":
                try:
                    row.append(float(value))
                except (TypeError, ValueError):
                    raise DataError(
                        f"input {i}: column {name!r}: {value!r} is not a number", row=i + 1, column=name
                    ) from None
            else:
                categories: list[str] = col["categories"]
                if str(value) not in categories:
                    raise DataError(
                        f"input {i}: column {name!r}: {value!r} is not one of the categories seen in "
                        f"training ({', '.join(categories[:10])}{'...' if len(categories) > 10 else ''})",
                        row=i + 1,
                        column=name,
                    )
                row.extend(1.0 if c == str(value) else 0.0 for c in categories)
        rows.append(row)
    return np.asarray(rows, dtype=np.float32).reshape(len(records), -1)
