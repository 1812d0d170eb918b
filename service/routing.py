"""`OneHopRoute`: a sync endpoint and the end of its request's transaction in one thread-pool hop.

FastAPI runs a sync endpoint in the thread pool, then (for a sync endpoint) validates its answer in the
thread pool again, then `db_session` commits and closes in a third hop. Each hop costs a thread wake-up
(~85 µs on our 2-core machines when idle, much more under load) and they were a third of what
`GET /v1/runs/{id}` cost. This route class turns each sync endpoint into an async one that makes the
one hop itself: the endpoint, then the commit (or the rollback when it raised) of the session
`db_session` opened for the request. FastAPI then validates the answer in the event loop, as it does
for every async endpoint, and `db_session` finds the transaction ended and has nothing left to do.

Reads (GET, HEAD) make that hop in their own small pool, the read lane (`DEEPFEAT_API_READ_THREADS`):
32 requests in flight on 40 threads spent their time handing the GIL around (at c=32 on 2 cores, 2
threads answered 1.4x what 40 did). Writes, and the reads marked `@blocking` (they wait on the object
store, a broker or a model), stay on the shared pool, so a slow one never holds up a status poll.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from anyio import CapacityLimiter, to_thread
from anyio.lowlevel import RunVar
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from deepfeat.db.session import commit, rollback

# The session `db_session` opened for this request, if any. Set in the request's own task, so the
# endpoint's thread (which runs in a copy of its context) sees it and no other request does.
request_session: ContextVar[Session | None] = ContextVar("request_session", default=None)
_ENDED = "request_ended"
_read_lane: RunVar[CapacityLimiter | None] = RunVar("deepfeat_read_lane", default=None)
_BLOCKING = "deepfeat_blocking"
READS = frozenset({"GET", "HEAD"})


def open_read_lane(threads: int) -> None:
    """Give this event loop's reads their own `threads` (from the app's lifespan, on the requests' loop)."""
    _read_lane.set(CapacityLimiter(threads))


def read_lane() -> CapacityLimiter | None:
    """This event loop's read lane, for reads made outside a `def` endpoint (None: not opened)."""
    return _read_lane.get()


def blocking(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a read that may wait on something slow (the store, the broker): it keeps off the read lane."""
    setattr(endpoint, _BLOCKING, True)
    return endpoint


def ended(session: Session) -> bool:
    return bool(session.info.get(_ENDED))


def end_transaction(session: Session, succeeded: bool) -> None:
    """Commit (then run the after-commit work such as enqueueing) or roll back, and close; once."""
    if ended(session):
        return
    session.info[_ENDED] = True
    try:
        if succeeded:
            commit(session)
        else:
            rollback(session)
    finally:
        session.close()


def in_one_hop(endpoint: Callable[..., Any], read: bool) -> Callable[..., Any]:
    """`endpoint` (sync) as an async endpoint with the same signature that makes a single hop, on the
    read lane if `read`."""

    def call_and_end(kwargs: dict[str, Any]) -> Any:
        session = request_session.get()
        try:
            answer = endpoint(**kwargs)
        except BaseException:
            if session is not None:
                end_transaction(session, succeeded=False)
            raise
        if session is not None:
            end_transaction(session, succeeded=True)
        return answer

    @functools.wraps(endpoint)  # FastAPI reads the parameters and their types through __wrapped__
    async def one_hop(**kwargs: Any) -> Any:
        lane = read_lane() if read else None  # None: anyio's shared pool
        return await to_thread.run_sync(call_and_end, kwargs, limiter=lane)

    return one_hop


class OneHopRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            methods = {m.upper() for m in kwargs.get("methods") or ("GET",)}
            read = methods <= READS and not getattr(endpoint, _BLOCKING, False)
            endpoint = in_one_hop(endpoint, read)
        super().__init__(path, endpoint, **kwargs)
