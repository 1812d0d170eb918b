"""/v1/runs"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import FileResponse, JSONResponse, Response

from deepfeat.db.models import Run
from deepfeat.db.types import MAX_BIGINT
from deepfeat.services.runs import RunService, run_search
from deepfeat.specs.run_filter import MAX_FILTER_CHARS
from deepfeat.specs.runs import (
    ArtifactOut,
    EventOut,
    MetricOut,
    RunFinding,
    RunOut,
    RunPage,
    RunSpec,
    RunStatus,
    ValidationReport,
)
from service.deps import DbSession, Reader, RunServiceDep, State, Writer
from service.downloads import artifact_response
from service.routing import OneHopRoute, blocking
from service.streaming import event_stream_response, resume_point, wants_event_stream

router = APIRouter(route_class=OneHopRoute, prefix="/v1/runs", tags=["runs"])
Limit = Annotated[int, Query(ge=1, le=200)]


def _out(service: RunService, runs: Sequence[Run]) -> list[RunOut]:
    """Runs as answered, with `queue_position` for the queued ones."""
    positions = service.queue_positions(runs)
    return [RunOut.model_validate(r).model_copy(update={"queue_position": positions.get(r.id)}) for r in runs]


@router.post(":validate", response_model=ValidationReport)
def validate_run(spec: RunSpec, service: RunServiceDep) -> ValidationReport:
    """Dry-run a spec: what it would build and cost, or a 422 whose `loc` points at the problem."""
    return service.validate(spec)


@router.post("", status_code=202, response_model=RunOut, responses={200: {"model": RunOut}})
def submit_run(
    spec: RunSpec,
    _: Writer,
    service: RunServiceDep,
    state: State,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    """Queue a run. Repeating a request with the same `Idempotency-Key` returns the first run (200)."""
    run, created = service.submit(spec, state.enqueue, idempotency_key)
    body = _out(service, [run])[0].model_dump(mode="json")
    return JSONResponse(body, status_code=202 if created else 200)


@router.get("", response_model=RunPage)
def list_runs(
    service: RunServiceDep,
    status: RunStatus | None = None,
    after: str | None = None,
    limit: Limit = 50,
    experiment: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[list[str], Query(description="runs with every tag given")] = [],  # noqa: B006
    filter: Annotated[
        str | None,
        Query(
            max_length=MAX_FILTER_CHARS,
            description="e.g. `metrics.val_accuracy > 0.9 and training.optimizer.lr < 0.01` (api.md)",
        ),
    ] = None,
    sort: Annotated[str | None, Query(max_length=200, description="`created_at` or `metrics.<key>`")] = None,
    order: Literal["asc", "desc"] = "desc",
) -> RunPage:
    """Newest first, or by a best metric. Pass the `next_after` of one page as `after` to get the next."""
    rows, next_after = service.page(status, after, limit, run_search(experiment, tag, filter, sort, order))
    return RunPage(data=_out(service, rows), next_after=next_after)


@router.get("/{run_id}", response_model=RunOut)
def get_run(run_id: str, service: RunServiceDep) -> RunOut:
    run, place = service.get_with_queue_position(run_id)
    return RunOut.model_validate(run).model_copy(update={"queue_position": place})


@router.patch("/{run_id}", response_model=RunOut)
def update_run(run_id: str, change: RunFinding, _: Writer, service: RunServiceDep) -> RunOut:
    """Rename a run, move it to another experiment, or change its tags or metadata."""
    return _out(service, [service.update(run_id, change)])[0]


@router.delete("/{run_id}", status_code=204)
def delete_run(run_id: str, _: Writer, service: RunServiceDep) -> Response:
    """Delete a finished run and free the storage only it used; 409 while it runs (cancel first)."""
    service.delete(run_id)
    return Response(status_code=204)


@router.get("/{run_id}/metrics", response_model=list[MetricOut])
def get_metrics(run_id: str, service: RunServiceDep, key: str | None = None) -> list[MetricOut]:
    rows = service.metrics(run_id, key)
    return [MetricOut.model_validate(r) for r in rows]


@router.get(
    "/{run_id}/events",
    response_model=list[EventOut],
    responses={200: {"content": {"text/event-stream": {}}}},
)
def get_events(
    run_id: str,
    who: Reader,
    session: DbSession,
    state: State,
    service: RunServiceDep,
    after: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
    limit: Limit = 100,
    accept: Annotated[str | None, Header()] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> list[EventOut] | Response:
    """The event log, paged by `after` (an event id); with `Accept: text/event-stream`, a live SSE stream
    that resumes from `Last-Event-ID` and ends when the run is terminal."""
    if wants_event_stream(accept):
        service.get(run_id)
        session.close()  # the stream polls with short sessions of its own; hold no connection meanwhile
        return event_stream_response(
            state.sessions, who.project_id, run_id, resume_point(last_event_id, after)
        )
    return [EventOut.model_validate(e) for e in service.events(run_id, after, limit)]


@router.post("/{run_id}/cancel", response_model=RunOut)
def cancel_run(run_id: str, _: Writer, service: RunServiceDep) -> RunOut:
    """Ask a run to stop: queued runs end at once, running ones within a step (`cancelling`)."""
    return _out(service, [service.cancel(run_id)])[0]


@router.get("/{run_id}/artifacts", response_model=list[ArtifactOut])
def list_artifacts(run_id: str, service: RunServiceDep) -> list[ArtifactOut]:
    """Files the run produced: weights (safetensors), spec, receipt, and task extras."""
    return [ArtifactOut.model_validate(a) for a in service.artifacts(run_id)]


@router.get("/{run_id}/artifacts/{name:path}", response_class=FileResponse)
@blocking  # the store
def download_artifact(run_id: str, name: str, service: RunServiceDep, state: State) -> Response:
    artifact = service.artifact(run_id, name)
    return artifact_response(
        state.store, artifact.path, artifact.media_type, artifact.name, artifact.sha256, state.settings
    )
