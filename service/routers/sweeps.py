"""/v1/sweeps"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from deepfeat.services.sweeps import SweepService
from deepfeat.specs.sweeps import SweepOut, SweepPage, SweepSpec, SweepStatus
from service.deps import DbSession, Reader, State, Writer

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"])


def _service(session: DbSession, project_id: str, state: State) -> SweepService:
    return SweepService(session, project_id, state.settings, state.store)


@router.post("", status_code=202, response_model=SweepOut)
def create_sweep(spec: SweepSpec, who: Writer, session: DbSession, state: State) -> SweepOut:
    """Start a hyperparameter sweep. Every parameter's values are checked against `base` first (a 422
    whose `loc` is `/parameters/<path>`); then the first `parallelism` trials are queued as runs."""
    service = _service(session, who.project_id, state)
    return service.describe(service.create(spec, state.enqueue))


@router.get("", response_model=SweepPage)
def list_sweeps(
    who: Reader,
    session: DbSession,
    state: State,
    status: SweepStatus | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SweepPage:
    """Newest first. Pass the `next_after` of one page as `after` to get the next."""
    service = _service(session, who.project_id, state)
    rows, next_after = service.page(status, after, limit)
    return SweepPage(data=[service.describe(s) for s in rows], next_after=next_after)


@router.get("/{sweep_id}", response_model=SweepOut)
def get_sweep(sweep_id: str, who: Reader, session: DbSession, state: State) -> SweepOut:
    """Status, best run, and every trial's parameters and metric."""
    service = _service(session, who.project_id, state)
    return service.describe(service.get(sweep_id))


@router.post("/{sweep_id}/cancel", response_model=SweepOut)
def cancel_sweep(sweep_id: str, who: Writer, session: DbSession, state: State) -> SweepOut:
    """Stop proposing trials and cancel the ones queued or training."""
    service = _service(session, who.project_id, state)
    return service.describe(service.cancel(sweep_id))
