"""Errors about the data a client sent: always a 4xx that says where (row, column or archive entry)."""

from __future__ import annotations

from typing import Any

from deepfeat.errors import DeepfeatError


class DataError(DeepfeatError):
    """The upload is readable but its content is wrong; `row` is 1-based over data rows (no header)."""

    status_code = 422
    error = "invalid_data"

    def __init__(
        self,
        detail: str,
        *,
        row: int | None = None,
        column: str | None = None,
        entry: str | None = None,
        **extra: Any,
    ) -> None:
        where = {k: v for k, v in (("row", row), ("column", column), ("entry", entry)) if v is not None}
        super().__init__(detail, **where, **extra)


class UnsupportedFormat(DeepfeatError):
    status_code = 415
    error = "unsupported_format"
