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
from deepfeat.data.options import MissingPolicy
from deepfeat.data.schema import DatasetSchema, base_schema, target_arrays

_NUMBER = r"^\s*[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|inf|infinity|nan)\s*$"


@dataclass(frozen=True)
class TableOptions:
    target: str | None = None
    missing: MissingPolicy = "refuse"
    target_type: str | None = None
    max_categories: int = 1000
    row_offset: int = 0  # added to 0-based row indices in messages (1 for "first data row is row 1")


@dataclass(frozen=True)
class Column:
    """One column, typed: numbers (float64) or categories (codes into sorted `categories`, -1 missing)."""

    kind: Literal["numeric", "categorical"]
    values: npt.NDArray[Any]
    missing: npt.NDArray[np.bool_]
    categories: npt.NDArray[np.str_] | None = None

    def as_labels(self) -> npt.NDArray[Any]:
        """The raw values for a target: numbers, or the category strings."""
        if self.categories is None:
            return self.values
        labels: npt.NDArray[Any] = self.categories[np.maximum(self.values, 0)]
        return labels


def _bools(array: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.bool_]:
    mask: npt.NDArray[np.bool_] = np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)
    return mask


def _numeric(column: pa.ChunkedArray, missing: npt.NDArray[np.bool_]) -> Column:
    # Integers past 2**53 lose precision as float64 rather than failing: features are float32 anyway.
    unsafe = not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type))
    cast = pc.cast(column, pa.float64(), safe=not unsafe)
    values = np.asarray(cast.fill_null(0.0).to_numpy(zero_copy_only=False))
    return Column("numeric", values, missing | np.isnan(values))


def _categorical(column: pa.ChunkedArray, missing: npt.NDArray[np.bool_]) -> Column:
    encoded = pc.dictionary_encode(column).combine_chunks()
    dictionary = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=object).astype(str)
    indices = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    order = np.argsort(dictionary, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    codes = np.where(indices >= 0, rank[np.maximum(indices, 0)], -1)
    codes[missing] = -1
    return Column("categorical", codes, missing, dictionary[order])


def _parses(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _column(name: str, column: pa.ChunkedArray, max_categories: int) -> Column:
    """Type one column; text that is mostly numbers is a mistake to report, not categories."""
    missing = _bools(column.is_null())
    kind = column.type
    if pa.types.is_boolean(kind):
        return Column("numeric", _bools(column.fill_null(False)).astype(np.float64), missing)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return _numeric(column, missing)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind)):
        raise DataError(f"column {name!r} has type {kind}, which is neither numbers nor text", column=name)
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()) if pa.types.is_dictionary(kind) else column)
    missing |= _bools(pc.equal(text, "").fill_null(False))
    present = ~missing
    text = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text)
    try:  # the common case, all numbers, costs one vectorised cast
        return _numeric(text, missing)
    except pa.ArrowInvalid:
        pass
    numeric = _bools(pc.match_substring_regex(text, _NUMBER, ignore_case=True).fill_null(False))
    if present.any() and numeric.sum() * 2 > present.sum():
        bad = np.flatnonzero(present & ~numeric)
        if not len(bad):  # the pattern let through something the cast refused: find it the slow way
            bad = np.array([i for i, v in enumerate(text.to_pylist()) if v is not None and not _parses(v)])
        row = int(bad[0]) + 1 if len(bad) else 1
        raise DataError(
            f"column {name!r}, row {row}: {text[row - 1].as_py()!r} is not a number "
            f"(the column is numeric; {len(bad)} such value(s))",
            row=row,
            column=name,
        )
    column_out = _categorical(text, missing)
    assert column_out.categories is not None
    if len(column_out.categories) > max_categories:
        raise DataError(
            f"column {name!r} has {len(column_out.categories)} distinct text values, more than the "
            f"{max_categories} a categorical feature may have: is it an id or free text? "
            "Drop it before uploading",
            column=name,
        )
    return column_out


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
    columns: dict[str, Column] = {}
    for i, name in enumerate(names):
        try:
            columns[name] = _column(name, table.column(i), options.max_categories)
        except (pa.ArrowException, UnicodeDecodeError) as exc:  # corrupt files surprise arrow
            raise DataError(f"column {name!r} cannot be read: {exc}", column=name) from None
    missing_counts = {n: int(c.missing.sum()) for n, c in columns.items()}
    keep = np.ones(table.num_rows, dtype=bool)
    if options.target is not None:
        t_missing = columns[options.target].missing
        if t_missing.any() and options.missing != "drop":
            row = _first(t_missing) + 1
            raise DataError(
                f"column {options.target!r} (the target), row {row}: value missing "
                f"({int(t_missing.sum())} row(s)); a target is never imputed: fix them or pass missing=drop",
                row=row,
                column=options.target,
            )
    for name, col in columns.items():
        values, missing = col.values, col.missing
        if col.kind == "numeric":
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
    for name, col in columns.items():
        if name == options.target:
            continue
        values, missing = col.values[keep], col.missing[keep]
        if col.kind == "numeric":
            fill = float(values[~missing].mean()) if (~missing).any() else 0.0
            blocks.append(np.where(missing, fill, values).astype(np.float32)[:, None])
            features.append({"name": name, "type": "numeric", **({"fill": fill} if missing.any() else {})})
            feature_names.append(name)
            continue
        assert col.categories is not None
        counts = np.bincount(values[~missing], minlength=len(col.categories))
        used = np.flatnonzero(counts)  # categories left after dropping rows
        categories = col.categories[used]
        remap = np.full(len(col.categories), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        fill_code = int(np.argmax(counts[used])) if len(used) else 0
        codes = np.where(missing, fill_code, remap[np.maximum(values, 0)])
        onehot = np.zeros((len(codes), len(categories)), dtype=np.float32)
        if len(categories):
            onehot[np.arange(len(codes)), codes] = 1.0
        blocks.append(onehot)
        features.append(
            {
                "name": name,
                "type": "categorical",
                "encoding": "onehot",
                "categories": [str(c) for c in categories],
                **({"fill": str(categories[fill_code])} if missing.any() and len(categories) else {}),
            }
        )
        feature_names.extend(f"{name}={c}" for c in categories)
    if not blocks:
        raise DataError("the table has no feature columns besides the target")
    X = np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32)
    raw_target = columns[options.target].as_labels()[keep] if options.target is not None else None
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


def encode_records(schema: DatasetSchema, records: list[dict[str, Any]]) -> npt.NDArray[np.float32]:
    """Encode prediction inputs (one dict per row, keyed by column name) exactly as the dataset was."""
    rows: list[list[float]] = []
    for i, record in enumerate(records):
        row: list[float] = []
        for col in schema.columns or []:
            name = col.name
            value = record.get(name, col.fill)
            if value is None:
                raise DataError(f"input {i}: column {name!r} is missing", row=i + 1, column=name)
            if col.type == "numeric":
                try:
                    row.append(float(value))
                except (TypeError, ValueError):
                    raise DataError(
                        f"input {i}: column {name!r}: {value!r} is not a number", row=i + 1, column=name
                    ) from None
            else:
                categories = col.categories
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
