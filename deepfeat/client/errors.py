"""What the client raises: one base class, each with a message that is one line meant for a person."""

from __future__ import annotations

import json
from typing import Any

import httpx

from deepfeat.specs.runs import RunOut


class ClientError(Exception):
    """Anything the client could not do; the message is one line meant for a person."""


class ServerUnreachable(ClientError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}")
        self.url, self.reason = url, reason


class DeepfeatAPIError(ClientError):
    """The server answered with an error: its HTTP status and the `{error, detail, loc}` body."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        loc: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status, self.error, self.detail, self.loc, self.body = status, error, detail, loc, body
        self.retry_after = retry_after  # seconds, from the `Retry-After` header of a 429/503


class SpecFileError(ClientError):
    """A spec file that cannot be read or parsed (before anything reaches the server)."""


class WaitTimeout(ClientError, TimeoutError):
    def __init__(self, run: RunOut, timeout: float) -> None:
        super().__init__(f"run {run.id} is still {run.status} after {timeout:g}s")
        self.run = run


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # absent, or an HTTP date: the caller's backoff decides


def raise_for_error(response: httpx.Response) -> None:
    if not response.is_error:
        return
    wait = _retry_after(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        if not isinstance(detail, str):  # a plain FastAPI/Starlette answer, not ours
            detail = json.dumps(detail)
        loc = body.get("loc")
        error = str(body.get("error", "error"))
        raise DeepfeatAPIError(response.status_code, error, detail, loc, body, wait)
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
    raise DeepfeatAPIError(response.status_code, "http_error", text, None, body, wait)


def reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError) and "refused" in str(exc).lower():
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return str(exc) or type(exc).__name__
