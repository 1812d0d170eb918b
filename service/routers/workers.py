"""/v1/workers: the workers online now (from their heartbeats)."""

from __future__ import annotations

from fastapi import APIRouter

from deepfeat.db.repositories.workers import stale_after
from deepfeat.services.workers import online_workers
from deepfeat.specs.workers import WorkerList, WorkerOut
from service.deps import DbSession, Reader, State
from service.routing import OneHopRoute

router = APIRouter(route_class=OneHopRoute, prefix="/v1/workers", tags=["workers"])


@router.get("", response_model=WorkerList)
def list_workers(who: Reader, session: DbSession, state: State) -> WorkerList:
    """Every online worker (workers serve all projects); a busy worker's `run_id` is shown only when the
    run is this key's project's, otherwise it is `null` with `state: "busy"`."""
    workers = online_workers(session, who.project_id, state.settings)
    return WorkerList(
        data=[WorkerOut.model_validate(w) for w in workers],  # `state` is WorkerView's property
        stale_after_s=stale_after(state.settings.heartbeat_seconds).total_seconds(),
    )
