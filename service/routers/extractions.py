"""/v1/extractions: batch jobs that embed a whole dataset with an encoder on a worker."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from deepfeat.services.extractions import ExtractionService
from deepfeat.specs.extractions import ExtractionOut, ExtractionPage, ExtractionRequest, ExtractionStatus
from deepfeat.specs.runs import ArtifactOut
from service.deps import DbSession, Reader, State, Writer
from service.downloads import artifact_response
from service.embedding import Runtime

router = APIRouter(prefix="/v1/extractions", tags=["extractions"])
Limit = Annotated[int, Query(ge=1, le=200)]


def _service(session: DbSession, project_id: str, state: State) -> ExtractionService:
    return ExtractionService(session, project_id, state.settings, state.store)


@router.post("", status_code=202, response_model=ExtractionOut)
def submit_extraction(
    body: ExtractionRequest, who: Writer, session: DbSession, state: State, runtime: Runtime
) -> ExtractionOut:
    """Queue a job embedding every row of `dataset` with `encoder`; 422 (with `loc`) if it cannot run."""
    service = _service(session, who.project_id, state)
    return ExtractionOut.model_validate(service.submit(body, runtime, state.enqueue.extraction))


@router.get("", response_model=ExtractionPage)
def list_extractions(
    who: Reader,
    session: DbSession,
    state: State,
    status: ExtractionStatus | None = None,
    after: str | None = None,
    limit: Limit = 50,
) -> ExtractionPage:
    """Newest first. Pass the `next_after` of one page as `after` to get the next."""
    rows, next_after = _service(session, who.project_id, state).page(status, after, limit)
    return ExtractionPage(data=[ExtractionOut.model_validate(r) for r in rows], next_after=next_after)


@router.get("/{extraction_id}", response_model=ExtractionOut)
def get_extraction(extraction_id: str, who: Reader, session: DbSession, state: State) -> ExtractionOut:
    """Status, attempt, progress (`rows_done` of `rows_total`), `dim` and the error of a failed job."""
    return ExtractionOut.model_validate(_service(session, who.project_id, state).get(extraction_id))


@router.post("/{extraction_id}/cancel", response_model=ExtractionOut)
def cancel_extraction(extraction_id: str, who: Writer, session: DbSession, state: State) -> ExtractionOut:
    """Queued jobs end at once; running ones after their current chunk (`cancelling`); 409 once finished."""
    return ExtractionOut.model_validate(_service(session, who.project_id, state).cancel(extraction_id))


@router.get("/{extraction_id}/artifacts", response_model=list[ArtifactOut])
def list_extraction_artifacts(
    extraction_id: str, who: Reader, session: DbSession, state: State
) -> list[ArtifactOut]:
    """`embeddings.npy` (float32, N×dim) and `row_ids.npy` (int64 dataset row numbers) once succeeded."""
    rows = _service(session, who.project_id, state).artifacts(extraction_id)
    return [ArtifactOut.model_validate(a) for a in rows]


@router.get("/{extraction_id}/artifacts/{name:path}", response_class=FileResponse)
def download_extraction_artifact(
    extraction_id: str, name: str, who: Reader, session: DbSession, state: State
) -> Response:
    artifact = _service(session, who.project_id, state).artifact(extraction_id, name)
    return artifact_response(
        state.store, artifact.path, artifact.media_type, artifact.name, artifact.sha256, state.settings
    )
