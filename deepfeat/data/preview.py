"""A few rows of a dataset as JSON a person can read: values by column, images as PNG data URIs."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from deepfeat.data.arrays import ArrayDataset
from deepfeat.data.schema import DatasetSchema

MAX_SEQUENCE_STEPS = 16


def png_data_uri(image: npt.NDArray[Any]) -> str:
    """C×H×W (C = 1 or 3) numbers → a PNG, scaled to 0..255 unless already uint8."""
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        low, high = float(pixels.min()), float(pixels.max())
        pixels = ((pixels - low) / ((high - low) or 1.0) * 255).round().astype(np.uint8)
    if pixels.ndim == 3:
        pixels = pixels[0] if pixels.shape[0] == 1 else pixels[:3].transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _target(schema: DatasetSchema, value: Any) -> Any:
    if schema.target_type == "categorical":
        classes = {c.label: c.name for c in schema.class_list}
        return classes.get(int(value), int(value))
    if schema.target_type == "numeric":
        return float(value)
    return None


def _tabular_row(schema: DatasetSchema, x: npt.NDArray[Any]) -> dict[str, Any]:
    columns = schema.columns
    if not columns:  # built-ins and NPZ: one value per feature name
        names = schema.feature_names or [f"x{i}" for i in range(len(x))]
        return {str(n): float(v) for n, v in zip(names, x.tolist(), strict=False)}
    row: dict[str, Any] = {}
    at = 0
    for col in columns:
        if col.type == "numeric":
            row[col.name] = float(x[at])
            at += 1
        else:
            width = len(col.categories)
            row[col.name] = col.categories[int(np.argmax(x[at : at + width]))]
            at += width
    return row


def preview_rows(data: ArrayDataset, limit: int) -> list[dict[str, Any]]:
    schema = data.schema
    modality = schema.modality
    rows: list[dict[str, Any]] = []
    for i in range(min(limit, data.n_rows)):
        x = np.asarray(data.X[i])
        row: dict[str, Any] = {"index": i}
        if modality == "image":
            row["image"] = png_data_uri(x.reshape(schema.input_shape))
        elif modality == "text":
            row["text"] = str(x)
        elif modality == "sequence":
            row["sequence"] = np.round(x[:MAX_SEQUENCE_STEPS], 6).tolist()
            row["length"] = int(x.shape[0])
        else:
            row["features"] = _tabular_row(schema, x.reshape(-1))
        if schema.has_target:
            row["target"] = _target(schema, data.y[i])
        rows.append(row)
    return rows
