"""Errors that carry their HTTP status, so the gateway renders every one the same way (one handler)."""

from __future__ import annotations

from typing import Any


class DeepfeatError(Exception):
    status_code = 400
    error = "bad_request"
    # Whether the same request may succeed later (sent as `x-should-retry`); None: decided by status.
    retryable: bool | None = None

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "detail": self.detail, **self.extra}

    def headers(self) -> dict[str, str] | None:
        """HTTP headers that belong with this error (e.g. `Retry-After`)."""
        return None


class BadRequest(DeepfeatError):
    pass


class Unauthorized(DeepfeatError):
    status_code = 401
    error = "unauthorized"

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(DeepfeatError):
    status_code = 403
    error = "forbidden"


class NotFound(DeepfeatError):
    status_code = 404
    error = "not_found"


class Conflict(DeepfeatError):
    status_code = 409
    error = "conflict"


class ArtifactCorrupt(DeepfeatError):
    """A stored file no longer matches the sha256 recorded when it was written: it is not loaded."""

    status_code = 409
    error = "artifact_corrupt"


class PayloadTooLarge(DeepfeatError):
    status_code = 413
    error = "payload_too_large"


class SpecError(DeepfeatError):
    """A spec that cannot run. `loc` is a JSON pointer into the submitted document."""

    status_code = 422
    error = "invalid_spec"

    def __init__(self, loc: str, detail: str) -> None:
        super().__init__(f"{loc}: {detail}" if loc else detail, loc=loc)
        self.loc = loc


def json_pointer(path: tuple[str | int, ...] | list[str | int]) -> str:
    """RFC 6901 pointer for a pydantic `loc` tuple."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "/" + "/".join(parts) if parts else ""


class RateLimited(DeepfeatError):
    """Too many requests for one key; `Retry-After` says when the next one will be let through."""

    status_code = 429
    error = "rate_limited"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after_s)}
