"""/v1/extractions: batch jobs that embed a whole dataset with an encoder on a worker."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from deepfeat.specs.extractions import ExtractionOut, ExtractionPage, ExtractionRequest, ExtractionStatus
from deepfeat.specs.runs import ArtifactOut
from service.deps import ExtractionServiceDep, State, Writer
from service.downloads import artifact_response
from service.embedding import Runtime
from service.routing import OneHopRoute, blocking

router = APIRouter(route_class=OneHopRoute, prefix="/v1/extractions", tags=["extractions"])
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post("", status_code=202, response_model=ExtractionOut)
def submit_extraction(
    body: ExtractionRequest, _: Writer, service: ExtractionServiceDep, state: State, runtime: Runtime
) -> ExtractionOut:
    """Queue a job embedding every row of `dataset` with `encoder`; 422 (with `loc`) if it cannot run."""
    return ExtractionOut.model_validate(service.submit(body, runtime, state.enqueue.extraction))


@router.get("", response_model=ExtractionPage)
def list_extractions(
    service: ExtractionServiceDep,
    status: ExtractionStatus | None = None,
    after: str | None = None,
    limit: Limit = 50,
) -> ExtractionPage:
    """Newest first. Pass the `next_after` of one page as `after` to get the next."""
    rows, next_after = service.page(status, after, limit)
    return ExtractionPage(data=[ExtractionOut.model_validate(r) for r in rows], next_after=next_after)


@router.get("/{extraction_id}", response_model=ExtractionOut)
def get_extraction(extraction_id: str, service: ExtractionServiceDep) -> ExtractionOut:
    """Status, attempt, progress (`rows_done` of `rows_total`), `dim` and the error of a failed job."""
    return ExtractionOut.model_validate(service.get(extraction_id))


@router.post("/{extraction_id}/cancel", response_model=ExtractionOut)
def cancel_extraction(extraction_id: str, _: Writer, service: ExtractionServiceDep) -> ExtractionOut:
    """Queued jobs end at once; running ones after their current chunk (`cancelling`); 409 once finished."""
    return ExtractionOut.model_validate(service.cancel(extraction_id))


@router.get("/{extraction_id}/artifacts", response_model=list[ArtifactOut])
def list_extraction_artifacts(extraction_id: str, service: ExtractionServiceDep) -> list[ArtifactOut]:
    """`embeddings.npy` (float32, N×dim) and `row_ids.npy` (int64 dataset row numbers) once succeeded."""
    rows = service.artifacts(extraction_id)
    return [ArtifactOut.model_validate(a) for a in rows]


@router.get("/{extraction_id}/artifacts/{name:path}", response_class=FileResponse)
@blocking  # the store
def download_extraction_artifact(
    extraction_id: str, name: str, service: ExtractionServiceDep, state: State
) -> Response:
    artifact = service.artifact(extraction_id, name)
    return artifact_response(
        state.store, artifact.path, artifact.media_type, artifact.name, artifact.sha256, state.settings
    )
