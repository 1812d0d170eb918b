"""/v1/schema: the JSON Schema of what users send, for editors, generators and the dashboard."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from deepfeat.specs.runs import RunSpec
from service.deps import Reader
from service.routing import OneHopRoute

router = APIRouter(route_class=OneHopRoute, prefix="/v1/schema", tags=["schema"])
_RUN_SCHEMA = RunSpec.model_json_schema()


@router.get("/run")
def run_schema(_: Reader) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the run spec accepted by `POST /v1/runs`."""
    return _RUN_SCHEMA
