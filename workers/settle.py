"""How a run's attempt that did not succeed ends: finished (failed, cancelled), requeued after a preemption
(not counted against the attempt cap), or retried after a lost rank (counted, failing at the cap). The
shared lifecycle (`workers/lifecycle.py`) does the fenced writes; what runs add is their status event,
written with it, and the attempt cap of `retry`."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.services.runs import Enqueue
from workers import lifecycle

log = logging.getLogger(__name__)


def finish(
    sessions: sessionmaker[Session],
    run_id: str,
    attempt: int,
    status: str,
    *,
    error: str | None = None,
    progress: dict[str, Any] | None = None,
) -> None:
    lifecycle.finish(
        sessions,
        LeaseRepository,
        run_id,
        attempt,
        status,
        error=error,
        progress=progress,
        then=lambda leases: leases.add_event(
            run_id,
            "status",
            status if error is None else f"{status}: {error}",
            level="error" if error else "info",
            data={"status": status, "error": error},
        ),
    )


def requeue_preempted(
    sessions: sessionmaker[Session], run_id: str, attempt: int, device: str, enqueue: Enqueue
) -> None:
    message = "requeued: the worker is shutting down; resumes from its checkpoint"
    if _requeue(
        sessions, run_id, attempt, device, enqueue, count_attempt=False, message=message, cause="preempted"
    ):
        log.info("run %s preempted and requeued", run_id)


def retry(
    sessions: sessionmaker[Session], run_id: str, attempt: int, device: str, enqueue: Enqueue, reason: str
) -> bool:
    """End this attempt after `reason`: requeued (counting the attempt) to resume from the checkpoint,
    or failed at the attempt cap, or cancelled if that was asked meanwhile. True if it was requeued."""
    with sessions() as session:
        run = LeaseRepository(session).get(run_id)
        if run is None or run.attempt != attempt:
            return False
        cancelled, cap = run.cancel_requested, run.max_attempts
    if cancelled or attempt >= cap:
        error = None if cancelled else f"{reason} (attempt {attempt} of {cap})"
        finish(sessions, run_id, attempt, "cancelled" if cancelled else "failed", error=error)
        return False
    message = f"requeued: attempt {attempt} failed ({reason}); resumes from its checkpoint"
    requeued = _requeue(
        sessions,
        run_id,
        attempt,
        device,
        enqueue,
        count_attempt=True,
        message=message,
        cause="rank_lost",
        level="warning",
    )
    if requeued:
        log.warning("run %s attempt %d requeued: %s", run_id, attempt, reason)
    return requeued


def _requeue(
    sessions: sessionmaker[Session],
    run_id: str,
    attempt: int,
    device: str,
    enqueue: Enqueue,
    *,
    count_attempt: bool,
    message: str,
    cause: str,
    level: str = "info",
) -> bool:
    """Requeue the run for this attempt, saying why in its event log (with it, in one transaction)."""
    return lifecycle.requeue(
        sessions,
        LeaseRepository,
        run_id,
        attempt,
        device,
        enqueue,
        count_attempt=count_attempt,
        then=lambda leases: leases.add_event(
            run_id, "status", message, level=level, data={"status": "queued", "reason": cause}
        ),
    )
