"""Live run events as server-sent events (`Accept: text/event-stream`).

The database is the only channel between the worker and the gateway, so the stream polls it: every
`POLL_S` one short session reads the run and the events after the last one sent, then closes. No session
or connection is held across the stream, and a stream costs two indexed queries per interval.

Each `run_events` row is sent as an event named after its kind (`status`, `epoch`, `warning`, ...) with
the row id as the SSE id, so a client that reconnects with `Last-Event-ID` resumes where it left off. A
`run` event (no id) carries the run's status, progress and best metrics whenever they change, and `end`
closes the stream once the run is terminal and every event has been sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from deepfeat.db.repositories.runs import RunRepository
from deepfeat.db.types import MAX_BIGINT, db_int
from deepfeat.errors import BadRequest
from deepfeat.specs.runs import TERMINAL_STATUSES, EventOut

POLL_S = 0.5
BATCH = 200  # events per poll; a backlog is drained without waiting between batches
RETRY_MS = 2000  # how long a browser waits before reconnecting a dropped stream


@dataclass(frozen=True)
class _Poll:
    events: list[dict[str, Any]]
    run: dict[str, Any] | None  # None: the run is gone (deleted with its project)
    more: bool


def wants_event_stream(accept: str | None) -> bool:
    return "text/event-stream" in (accept or "")


def resume_point(last_event_id: str | None, after: int | None) -> int | None:
    """Where to resume: the `Last-Event-ID` header (a reconnect) wins over the `after` query."""
    if last_event_id is None or not last_event_id.strip():
        return after
    try:
        resume = db_int(last_event_id.strip(), MAX_BIGINT)
    except ValueError:
        resume = None
    if resume is None:
        raise BadRequest("Last-Event-ID must be the id of an event (a non-negative integer)")
    return resume


def run_snapshot(session: Session, run: Any) -> dict[str, Any]:
    """What a watcher needs to redraw a run's header: status, progress, best metrics, queue place."""
    return {
        "id": run.id,
        "status": run.status,
        "progress": run.progress,
        "best_metrics": run.best_metrics,
        "error": run.error,
        "queue_position": RunRepository(session, run.project_id).queue_positions([run]).get(run.id),
        "terminal": run.status in TERMINAL_STATUSES,
    }


def _poll(sessions: sessionmaker[Session], project_id: str, run_id: str, after: int | None) -> _Poll:
    with sessions() as session:
        repo = RunRepository(session, project_id)
        # The run first, then its events: a terminal status read here means its final event is already
        # committed (the worker writes both in one transaction), so the events query below will see it.
        run = repo.get(run_id)
        if run is None:
            return _Poll([], None, more=False)
        snapshot = run_snapshot(session, run)
        rows = repo.events(run_id, after, BATCH)
        events = [EventOut.model_validate(e).model_dump(mode="json") for e in rows]
    return _Poll(events, snapshot, more=len(events) == BATCH)


async def run_events(
    sessions: sessionmaker[Session], project_id: str, run_id: str, after: int | None
) -> AsyncIterator[ServerSentEvent]:
    """The events of one run after `after`, live, until it is terminal and everything was sent."""
    sent: dict[str, Any] | None = None
    yield ServerSentEvent(comment="deepfeat run events", retry=RETRY_MS)
    while True:
        poll = await run_in_threadpool(_poll, sessions, project_id, run_id, after)
        for event in poll.events:
            after = event["id"]
            yield ServerSentEvent(json.dumps(event), event=event["kind"], id=str(event["id"]))
        if poll.run is None:
            yield ServerSentEvent(json.dumps({"error": "not_found"}), event="end")
            return
        if poll.run != sent:
            sent = poll.run
            yield ServerSentEvent(json.dumps(sent), event="run")
        if poll.more:
            continue
        if sent["terminal"]:
            yield ServerSentEvent(json.dumps({"status": sent["status"]}), event="end")
            return
        await asyncio.sleep(POLL_S)


def event_stream_response(
    sessions: sessionmaker[Session], project_id: str, run_id: str, after: int | None
) -> EventSourceResponse:
    """The SSE response; the caller has already checked that the project can see the run."""
    return EventSourceResponse(
        run_events(sessions, project_id, run_id, after),
        ping=15,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
