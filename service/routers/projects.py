"""/v1/projects: the deployment's projects and their keys (an admin key of the `default` project)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from deepfeat.specs.keys import KeyCreate, KeyOut, KeyPage
from deepfeat.specs.projects import ProjectCreate, ProjectOut, ProjectPage, StorageUsage
from service.deps import Admin, ProjectServiceDep
from service.routing import OneHopRoute

router = APIRouter(route_class=OneHopRoute, prefix="/v1/projects", tags=["projects"])


@router.post("", status_code=201, response_model=ProjectOut)
def create_project(body: ProjectCreate, _: Admin, service: ProjectServiceDep) -> ProjectOut:
    """A new, empty project; issue its first key with `POST /v1/projects/{id}/keys`."""
    return ProjectOut.model_validate(service.create(body.name))


@router.get("", response_model=ProjectPage)
def list_projects(
    _: Admin,
    service: ProjectServiceDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ProjectPage:
    """Every project of the deployment, oldest first."""
    rows, next_after = service.page(after, limit)
    return ProjectPage(data=[ProjectOut.model_validate(p) for p in rows], next_after=next_after)


@router.get("/{project}", response_model=ProjectOut)
def get_project(project: str, service: ProjectServiceDep) -> ProjectOut:
    """One project (by id or name) with its storage use; any key may read its own project."""
    found = service.get(project)
    datasets_bytes, artifacts_bytes = service.usage(found)
    usage = StorageUsage(
        datasets_bytes=datasets_bytes,
        artifacts_bytes=artifacts_bytes,
        total_bytes=datasets_bytes + artifacts_bytes,
    )
    return ProjectOut.model_validate(found).model_copy(update={"usage": usage})


@router.post("/{project}/keys", status_code=201, response_model=KeyOut)
def create_project_key(project: str, body: KeyCreate, _: Admin, service: ProjectServiceDep) -> KeyOut:
    """A key of that project; its secret (`key`) is in this answer only."""
    key, raw = service.issue_key(project, body.scope, body.name)
    return KeyOut.model_validate(key).model_copy(update={"key": raw})


@router.get("/{project}/keys", response_model=KeyPage)
def list_project_keys(project: str, _: Admin, service: ProjectServiceDep) -> KeyPage:
    keys = service.keys(project)
    return KeyPage(data=[KeyOut.model_validate(k) for k in keys])
