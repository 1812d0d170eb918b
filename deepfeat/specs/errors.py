"""The one error shape every 4xx/5xx answer has (rendered by service/errors.py)."""

from __future__ import annotations

from pydantic import Field

from deepfeat.specs.base import ResponseModel


class FieldError(ResponseModel):
    loc: str = Field(description="JSON pointer into the request part named by `in`")
    in_: str = Field(alias="in", serialization_alias="in")
    msg: str


class ErrorBody(ResponseModel):
    error: str = Field(description="a stable machine-readable type, e.g. `not_found`, `invalid_spec`")
    detail: str = Field(description="what went wrong and where, for a person")
    loc: str | None = Field(
        default=None, description="JSON pointer to the offending field, when there is one"
    )
    errors: list[FieldError] | None = Field(
        default=None, description="every validation error, not only the first"
    )
    error_id: str | None = Field(
        default=None, description="for 500s: the id under which the server logged it"
    )
