"""Projects as the deployment admin creates and lists them."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from deepfeat.specs.base import ResponseModel, SpecModel

PROJECT_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class ProjectCreate(SpecModel):
    name: str = Field(
        min_length=1, max_length=200, pattern=PROJECT_NAME, description="unique in the deployment"
    )


class StorageUsage(ResponseModel):
    """Bytes the project's objects take in the artifact store, counted per distinct blob."""

    datasets_bytes: int
    artifacts_bytes: int
    total_bytes: int


class ProjectOut(ResponseModel):
    id: str
    name: str
    created_at: datetime
    usage: StorageUsage | None = Field(default=None, description="only in the answer for one project")


class ProjectPage(ResponseModel):
    data: list[ProjectOut]
    next_after: str | None = Field(description="pass as `after` to get the next page; null on the last")
