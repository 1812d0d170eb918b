"""Dataset requests and answers."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from deepfeat.data.schema import DatasetSchema
from deepfeat.specs.base import ResponseModel, SpecModel

_SIZE = re.compile(r"^\s*(\d{1,4})\s*(?:[x×,]\s*(\d{1,4}))?\s*$")


class BuiltinDatasetRequest(SpecModel):
    builtin: str = Field(min_length=1, max_length=100, examples=["digits"])
    name: str | None = Field(default=None, max_length=200)


class UploadOptions(SpecModel):
    """The form fields sent beside `file` in a multipart `POST /v1/datasets` (all optional)."""

    name: str | None = Field(default=None, min_length=1, max_length=200, description="default: file name")
    format: Literal["csv", "tsv", "parquet", "npz", "jsonl", "images"] | None = Field(
        default=None, description="default: detected from the file name, then from the bytes"
    )
    target: str | None = Field(
        default=None, min_length=1, max_length=200, description="tables: the target column; JSONL: label key"
    )
    target_type: Literal["categorical", "numeric"] | None = Field(
        default=None, description="default: text/bool/few distinct integers → categorical, else numeric"
    )
    missing: Literal["refuse", "drop", "impute"] = Field(
        default="refuse", description="tables: refuse missing values, drop their rows, or impute them"
    )
    modality: Literal["tabular", "image", "sequence"] | None = Field(
        default=None, description="NPZ with a 3-d X: N×H×W images or N×T×F sequences"
    )
    image_size: tuple[int, int] = Field(
        default=(32, 32), description="images: resize to H×W, e.g. `32` or `64x48`"
    )
    color: Literal["auto", "rgb", "grayscale"] = "auto"

    @field_validator("image_size", mode="before")
    @classmethod
    def _parse_size(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _SIZE.match(value)
            if not match:
                raise ValueError("expected a size like 32 or 64x48")
            h = int(match[1])
            return (h, int(match[2] or h))
        return value

    @field_validator("image_size")
    @classmethod
    def _bounded(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not all(1 <= d <= 1024 for d in value):
            raise ValueError("each side must be between 1 and 1024")
        return value


class DatasetOut(ResponseModel):
    id: str
    name: str
    version: int
    builtin: str | None
    format: str
    sha256: str = Field(description="sha256 of the uploaded bytes (built-ins: of the normalised manifest)")
    size_bytes: int
    n_rows: int
    schema_: DatasetSchema = Field(alias="schema", serialization_alias="schema")
    created_at: datetime


class DatasetPage(ResponseModel):
    data: list[DatasetOut]
    next_after: str | None


class DatasetPreview(ResponseModel):
    id: str
    modality: str | None
    n_rows: int
    rows: list[dict[str, Any]] = Field(description="images as `data:image/png;base64,...` URIs")
