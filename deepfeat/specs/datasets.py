"""Dataset requests and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from deepfeat.specs.base import ResponseModel, SpecModel


class BuiltinDatasetRequest(SpecModel):
    builtin: str = Field(min_length=1, max_length=100, examples=["digits"])
    name: str | None = Field(default=None, max_length=200)


class DatasetOut(ResponseModel):
    id: str
    name: str
    builtin: str | None
    format: str
    sha256: str
    size_bytes: int
    n_rows: int
    schema_: dict[str, Any] = Field(alias="schema", serialization_alias="schema")
    created_at: datetime


class DatasetPage(ResponseModel):
    data: list[DatasetOut]
    next_after: str | None
