"""/v1/sweeps"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from deepfeat.specs.sweeps import SweepOut, SweepPage, SweepSpec, SweepStatus
from service.deps import State, SweepServiceDep, Writer
from service.routing import OneHopRoute

router = APIRouter(route_class=OneHopRoute, prefix="/v1/sweeps", tags=["sweeps"])


@router.post("", status_code=202, response_model=SweepOut)
def create_sweep(spec: SweepSpec, _: Writer, service: SweepServiceDep, state: State) -> SweepOut:
    """Start a hyperparameter sweep. Every parameter's values are checked against `base` first (a 422
    whose `loc` is `/parameters/<path>`); then the first `parallelism` trials are queued as runs."""
    return service.describe(service.create(spec, state.enqueue))


@router.get("", response_model=SweepPage)
def list_sweeps(
    service: SweepServiceDep,
    status: SweepStatus | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SweepPage:
    """Newest first. Pass the `next_after` of one page as `after` to get the next."""
    rows, next_after = service.page(status, after, limit)
    return SweepPage(data=[service.describe(s) for s in rows], next_after=next_after)


@router.get("/{sweep_id}", response_model=SweepOut)
def get_sweep(sweep_id: str, service: SweepServiceDep) -> SweepOut:
    """Status, best run, and every trial's parameters and metric."""
    return service.describe(service.get(sweep_id))


@router.post("/{sweep_id}/cancel", response_model=SweepOut)
def cancel_sweep(sweep_id: str, _: Writer, service: SweepServiceDep) -> SweepOut:
    """Stop proposing trials and cancel the ones queued or training."""
    return service.describe(service.cancel(sweep_id))
