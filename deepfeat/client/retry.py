"""Retrying 429 and 503 answers (tenacity): wait what `Retry-After` says, else back off exponentially.

Only those two statuses are retried: the server has not acted on the request, so even a POST is safe
to send again. Everything else is an answer to show, not to repeat.
"""

from __future__ import annotations

from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from tenacity.wait import wait_base

from deepfeat.client.errors import DeepfeatAPIError

RETRY_STATUSES = frozenset({429, 503})
MAX_WAIT_S = 60.0  # a Retry-After beyond this is not waited for in a client call


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, DeepfeatAPIError) and exc.status in RETRY_STATUSES


class wait_retry_after(wait_base):  # lower case, as tenacity names its waits
    """The server's `Retry-After` when it sent one, else `fallback`; never more than MAX_WAIT_S."""

    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, DeepfeatAPIError) and exc.retry_after is not None:
            return min(exc.retry_after, MAX_WAIT_S)
        return min(float(self.fallback(retry_state)), MAX_WAIT_S)


def _policy(attempts: int) -> dict[str, Any]:
    return {
        "retry": retry_if_exception(is_retryable),
        "wait": wait_retry_after(wait_exponential(multiplier=0.5, max=8)),
        "stop": stop_after_attempt(max(1, attempts)),
        "reraise": True,
    }


def retrying(attempts: int) -> Retrying:
    return Retrying(**_policy(attempts))


def async_retrying(attempts: int) -> AsyncRetrying:
    return AsyncRetrying(**_policy(attempts))
