"""API keys as the admin routes show them. The secret appears once, in the answer to create."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from deepfeat.specs.base import ResponseModel, SpecModel

Scope = Literal["read", "write", "admin"]


class KeyCreate(SpecModel):
    name: str = Field(default="", max_length=200)
    scope: Scope = "write"


class KeyOut(ResponseModel):
    id: str
    name: str
    scope: str
    prefix: str = Field(description="the first characters of the key, to tell keys apart")
    created_at: datetime
    revoked_at: datetime | None
    key: str | None = Field(default=None, description="the secret: only in the answer to create, never again")


class KeyPage(ResponseModel):
    data: list[KeyOut]
