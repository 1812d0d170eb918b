"""One place turns every failure into the JSON error shape `{"error", "detail", ...}`."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from deepfeat.errors import DeepfeatError, json_pointer
from deepfeat.specs.errors import ErrorBody
from service.dialects import render
from service.suggest import closest_field

log = logging.getLogger(__name__)


def pointer_for(loc: Sequence[str | int], document: Any) -> str:
    """JSON pointer into what the client sent for a pydantic error `loc`.

    Pydantic puts discriminated-union tags (`mlp`) and type names into `loc`; they are not in the
    document, so walking the document tells them apart from real keys.
    """
    path: list[str | int] = []
    current = document
    for i, part in enumerate(loc):
        if _has(current, part):
            path.append(part)
            current = current[part]
        elif i == len(loc) - 1:
            path.append(part)  # a missing field: name it
    return json_pointer(path)


def _has(container: Any, part: str | int) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


# pydantic's complaint when the body is not a JSON object: most often a client that sent JSON without
# `Content-Type: application/json` (curl -d sends a form type), so the body arrived as plain bytes.
_NOT_AN_OBJECT = frozenset({"model_attributes_type", "dict_type", "model_type"})


def _content_type_hint(exc: RequestValidationError, content_type: str) -> str | None:
    first = exc.errors()[0] if exc.errors() else {}
    if tuple(first.get("loc", ())) != ("body",) or first.get("type") not in _NOT_AN_OBJECT:
        return None
    if "json" in content_type:
        return None
    said = f"`{content_type}`" if content_type else "none"
    return (
        f"body: send a JSON object with the header `Content-Type: application/json` (this request's: {said})"
    )


def _validation_body(
    exc: RequestValidationError, content_type: str = "", body_model: Any = None
) -> dict[str, Any]:
    errors = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        if err.get("type") == "extra_forbidden" and loc[:1] == ["body"]:
            nearest = closest_field(body_model, loc[1:])
            if nearest is not None:
                err = {**err, "msg": f"{err.get('msg')}; did you mean `{nearest}`?"}
        if err.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            loc.append(str(err.get("ctx", {}).get("discriminator", "type")).strip("'"))
        where = loc[0] if loc else "body"
        pointer = pointer_for(loc[1:], exc.body if where == "body" else None)
        errors.append({"loc": pointer, "in": where, "msg": err.get("msg", "invalid")})
    first = errors[0] if errors else {"loc": "", "msg": "invalid request", "in": "body"}
    where = first["loc"] or first["in"]
    return {
        "error": "invalid_request",
        "detail": _content_type_hint(exc, content_type) or f"{where}: {first['msg']}",
        "loc": first["loc"],
        "errors": errors,
    }


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DeepfeatError)
    async def _deepfeat(request: Request, exc: DeepfeatError) -> JSONResponse:
        return render(request, exc.status_code, exc.body(), exc.headers(), exc.retryable)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        route = request.scope.get("route")
        body_field = getattr(route, "body_field", None)
        model = body_field.field_info.annotation if body_field is not None else None
        return render(request, 422, _validation_body(exc, request.headers.get("content-type", ""), model))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return render(
            request,
            exc.status_code,
            {"error": error, "detail": str(exc.detail)},
            getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        error_id = secrets.token_hex(8)
        log.exception("unhandled error %s on %s %s", error_id, request.method, request.url.path)
        return render(
            request,
            500,
            {
                "error": "internal",
                "detail": "internal error; quote this id when reporting it",
                "error_id": error_id,
            },
        )


# Documented on every route, so clients (and schemathesis) know the shape of each failure.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (401, "missing, wrong or revoked key"),
        (403, "the key's scope is too low"),
        (404, "no such object in this project"),
        (409, "conflicts with the object's state"),
        (413, "request too large"),
        (422, "invalid request; `loc` points at the field"),
        (429, "too many requests; see Retry-After"),
        (500, "a bug; `error_id` is in the server log"),
    )
}


def document_errors(app: FastAPI) -> None:
    """FastAPI documents its own 422 body (`HTTPValidationError`); ours is `ErrorBody`: say so."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            body_ref = {"$ref": "#/components/schemas/ErrorBody"}
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    response = operation.get("responses", {}).get("422")
                    if response is not None and "HTTPValidationError" in str(response):
                        response["content"] = {"application/json": {"schema": body_ref}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
