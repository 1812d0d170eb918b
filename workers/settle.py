"""How an attempt that did not succeed ends: finished (failed, cancelled), requeued after a preemption
(not counted against the attempt cap), or retried after a lost rank (counted, failing at the cap).
Each write is fenced by the attempt number, so an attempt that lost its lease changes nothing."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.services.runs import Enqueue

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
    with sessions() as session:
        leases = LeaseRepository(session)
        if leases.finish(run_id, attempt, status, error=error, progress=progress):
            leases.add_event(
                run_id,
                "status",
                status if error is None else f"{status}: {error}",
                level="error" if error else "info",
                data={"status": status, "error": error},
            )
            session.commit()


def requeue_preempted(
    sessions: sessionmaker[Session], run_id: str, attempt: int, device: str, enqueue: Enqueue
) -> None:
    with sessions() as session:
        leases = LeaseRepository(session)
        if not leases.requeue(run_id, attempt, count_attempt=False):
            return
        leases.add_event(
            run_id,
            "status",
            "requeued: the worker is shutting down; resumes from its checkpoint",
            data={"status": "queued", "reason": "preempted"},
        )
        session.commit()
    enqueue(run_id, device)
    log.info("run %s preempted and requeued", run_id)


def retry(
    sessions: sessionmaker[Session], run_id: str, attempt: int, device: str, enqueue: Enqueue, reason: str
) -> bool:
    """End this attempt after `reason`: requeued (counting the attempt) to resume from the checkpoint,
    or failed at the attempt cap, or cancelled if that was asked meanwhile. True if it was requeued."""
    with sessions() as session:
        leases = LeaseRepository(session)
        run = leases.get(run_id)
        if run is None or run.attempt != attempt:
            return False
        if run.cancel_requested or run.attempt >= run.max_attempts:
            cancelled, cap = run.cancel_requested, run.max_attempts
            session.rollback()
            error = None if cancelled else f"{reason} (attempt {attempt} of {cap})"
            finish(sessions, run_id, attempt, "cancelled" if cancelled else "failed", error=error)
            return False
        if not leases.requeue(run_id, attempt, count_attempt=True):
            return False
        leases.add_event(
            run_id,
            "status",
            f"requeued: attempt {attempt} failed ({reason}); resumes from its checkpoint",
            level="warning",
            data={"status": "queued", "reason": "rank_lost"},
        )
        session.commit()
    enqueue(run_id, device)
    log.warning("run %s attempt %d requeued: %s", run_id, attempt, reason)
    return True
