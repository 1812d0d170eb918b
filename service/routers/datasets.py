"""/v1/datasets"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from deepfeat.errors import BadRequest
from deepfeat.services.datasets import UploadedFile
from deepfeat.specs.datasets import (
    BuiltinDatasetRequest,
    DatasetOut,
    DatasetPage,
    DatasetPreview,
    UploadOptions,
)
from service.deps import DatasetServiceDep, DbSession, State, Writer
from service.routing import OneHopRoute, blocking
from service.uploads import receive_upload

router = APIRouter(route_class=OneHopRoute, prefix="/v1/datasets", tags=["datasets"])

_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        **UploadOptions.model_json_schema()["properties"],
                    },
                }
            },
            "application/json": {"schema": BuiltinDatasetRequest.model_json_schema()},
        },
        "required": True,
    }
}


def _validation(exc: ValidationError, body: Any) -> RequestValidationError:
    errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
    return RequestValidationError(errors, body=body)


@router.post("", status_code=201, response_model=DatasetOut, openapi_extra=_UPLOAD_DOC)
async def create_dataset(
    request: Request,
    response: Response,
    _: Writer,
    session: DbSession,
    state: State,
    service: DatasetServiceDep,
) -> DatasetOut:
    """Upload a file (multipart `file` + options; 201, or 200 for the same bytes, options and name
    again) or register a built-in (`{"builtin": "digits"}`; the same one twice returns the first)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        # Authentication only read; hand the DB connection back while the body streams (a big file
        # takes minutes, and 20 slow uploads must not hold the whole pool). The session reconnects.
        await run_in_threadpool(session.close)
        upload = await receive_upload(request, state.store.tmp_dir, state.settings.upload_max_bytes)
        try:
            options = UploadOptions.model_validate(upload.fields)
        except ValidationError as exc:
            upload.path.unlink(missing_ok=True)
            raise _validation(exc, upload.fields) from None
        uploaded = UploadedFile(upload.path, upload.filename, upload.sha256, upload.size_bytes)
        read_options = service.read_options(options)
        dataset, created = await run_in_threadpool(
            service.create_from_upload, uploaded, options.name, read_options
        )
        if not created:
            response.status_code = 200
        return DatasetOut.model_validate(dataset)
    if not content_type.startswith("application/json"):
        raise BadRequest('send multipart/form-data with a `file` part, or JSON like {"builtin": "digits"}')
    raw = await request.body()
    try:
        body = BuiltinDatasetRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise _validation(exc, _json_or_none(raw)) from None
    dataset = await run_in_threadpool(service.register_builtin, body.builtin, body.name)
    return DatasetOut.model_validate(dataset)


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


@router.get("", response_model=DatasetPage)
def list_datasets(
    service: DatasetServiceDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    name: str | None = None,
) -> DatasetPage:
    rows, next_after = service.page(after, limit, name)
    return DatasetPage(data=[DatasetOut.model_validate(r) for r in rows], next_after=next_after)


@router.get("/{dataset_id}", response_model=DatasetOut)
def get_dataset(dataset_id: str, service: DatasetServiceDep) -> DatasetOut:
    return DatasetOut.model_validate(service.get(dataset_id))


@router.get("/{dataset_id}/preview", response_model=DatasetPreview)
@blocking  # reads the dataset from the store
def preview_dataset(
    dataset_id: str,
    service: DatasetServiceDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> DatasetPreview:
    return DatasetPreview.model_validate(service.preview(dataset_id, limit))


@router.delete("/{dataset_id}", status_code=204)
def delete_dataset(dataset_id: str, _: Writer, service: DatasetServiceDep) -> Response:
    """Delete a dataset; 409 while a queued or running run uses it."""
    service.delete(dataset_id)
    return Response(status_code=204)
