"""The documented error bodies of the OpenAI- and TEI-shaped routes (their dialects: service/dialects.py)."""

from __future__ import annotations

from typing import Any

from deepfeat.specs.compat import OpenAIErrorBody, TEIErrorBody


def _responses(model: type, statuses: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": model, "description": text} for status, text in statuses.items()}


OPENAI_ERROR_RESPONSES = _responses(
    OpenAIErrorBody,
    {
        400: "invalid request; `param` names the field",
        401: "missing, wrong or revoked key",
        403: "the key's scope is too low",
        404: "no such model (`model_not_found`)",
        409: "a stored file failed its checksum",
        413: "too many inputs",
        422: "not sent by these routes (OpenAI answers 400)",
        429: "too many requests; see Retry-After",
        500: "a bug; the message quotes the id in the server log",
        503: "the encoder cannot be loaded",
    },
)

TEI_ERROR_RESPONSES = _responses(
    TEIErrorBody,
    {
        401: "missing, wrong or revoked key",
        404: "the default encoder is not in this server",
        413: "too many inputs",
        422: "invalid request, or an input too long with `truncate: false`",
        429: "queue full; see Retry-After",
        500: "a bug",
        503: "the encoder cannot be loaded",
    },
)
