"""How an error is written for the client that asked: deepfeat's `{"error", "detail", ...}` everywhere,
OpenAI's envelope on the OpenAI-shaped routes, TEI's on the text-embeddings-inference ones.

`service/errors.py` (the one handler) builds deepfeat's body and calls `render`; the routes never
catch errors to reshape them. Every answer also says whether a retry can help: the OpenAI and TEI
SDKs retry 409 and 5xx by default, which is wasted on `artifact_corrupt` or `encoder_unavailable`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

Dialect = Callable[[int, dict[str, Any]], tuple[int, dict[str, Any]]]

# Transient answers: a later identical request may succeed. Everything else 4xx is final.
RETRYABLE_STATUSES = frozenset({408, 429})
DEFAULT_RETRY_AFTER_S = {429: 1, 503: 5}

OPENAI_PREFIXES = ("/v1/embeddings", "/v1/models")
TEI_PATHS = frozenset({"/embed", "/info", "/health"})


def should_retry(status: int, retryable: bool | None) -> str | None:
    """The `x-should-retry` value: the error's own verdict, else by status; None for an unknown 5xx."""
    if retryable is not None:
        return "true" if retryable else "false"
    if status in RETRYABLE_STATUSES:
        return "true"
    if status < 500:
        return "false"
    return None


def render(
    request: Request,
    status: int,
    body: dict[str, Any],
    headers: Mapping[str, str] | None = None,
    retryable: bool | None = None,
) -> JSONResponse:
    """The error `body` (deepfeat's shape) as the response for `request`'s dialect, with retry headers."""
    out = dict(headers or {})
    if status in DEFAULT_RETRY_AFTER_S and "Retry-After" not in out:
        out["Retry-After"] = str(body.get("retry_after_s", DEFAULT_RETRY_AFTER_S[status]))
    verdict = should_retry(status, retryable)
    if verdict is not None:
        out["x-should-retry"] = verdict
    status, shaped = dialect_for(request.method, request.url.path)(status, body)
    return JSONResponse(shaped, status_code=status, headers=out)


def dialect_for(method: str, path: str) -> Dialect:
    if path.startswith(OPENAI_PREFIXES):
        return openai_error
    if path in TEI_PATHS or (method == "POST" and path == "/"):  # GET / is the dashboard
        return tei_error
    return _deepfeat


def _deepfeat(status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return status, body


_OPENAI_TYPES = {
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def openai_error(status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """OpenAI's `{"error": {message, type, param, code}}`. OpenAI answers invalid requests with 400,
    so 422 becomes 400; the only 404 these routes give is an unknown `model`."""
    if status == 422:
        status = 400
    kind, code = _OPENAI_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    # The encoders' own checks say `/inputs`; OpenAI's field is `input`.
    loc = str(body.get("loc") or "").replace("/inputs", "/input", 1)
    param = loc.lstrip("/").split("/", 1)[0] or None
    if status == 404:
        param = "model"
    message = str(body.get("detail", "error"))
    error = {
        "message": message.replace("/inputs", "/input", 1) if message.startswith("/inputs") else message,
        "type": kind,
        "param": param,
        "code": code or body.get("error"),
    }
    return status, {"error": error}


_TEI_TYPES = {413: "Validation", 422: "Validation", 400: "Validation", 429: "Overloaded"}


def tei_error(status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """TEI's `{"error": message, "error_type"}` (its clients show `error` as the message)."""
    kind = _TEI_TYPES.get(status, "Backend" if status >= 500 else str(body.get("error", "Validation")))
    return status, {"error": body.get("detail", "error"), "error_type": kind}
