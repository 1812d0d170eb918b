"""Leased, fenced jobs: what a worker writes about the run or extraction it executes.

Not project-scoped (workers are trusted), but fenced: a claim counts an attempt, and every later write
names the attempt it belongs to, so a worker that lost its lease changes nothing. Runs and extraction
jobs share these columns (`status`, `attempt`, `max_attempts`, `lease_owner`, `lease_expires_at`,
`progress`, `updated_at`, `finished_at`, `error`, `device`) and the artifact rows they write (by their
own column of `artifacts`); what differs lives in their subclasses. The worker's side of the lifecycle
over these writes is `workers/lifecycle.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, CursorResult, Result, and_, delete, or_, select, true, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from deepfeat.db.models import Artifact, Extraction, Run
from deepfeat.db.types import utcnow

ACTIVE = ("running", "cancelling")
Leased = TypeVar("Leased", Run, Extraction)


class FencedLeases(Generic[Leased]):
    def __init__(
        self, session: Session, model: type[Leased], artifact_owner: InstrumentedAttribute[str | None]
    ) -> None:
        self.session = session
        self.model: type[Leased] = model
        self.artifact_owner = artifact_owner  # the column of `artifacts` naming a job of this kind

    def get(self, job_id: str) -> Leased | None:
        return self.session.get(self.model, job_id, populate_existing=True)

    def _claim(
        self, job_id: str, owner: str, lease_seconds: float, allowed: ColumnElement[bool] | None = None
    ) -> int | None:
        """Take the job if it is queued or its holder's lease expired (and `allowed` holds); the new
        attempt number, or None."""
        m, now = self.model, utcnow()
        claimable = or_(m.status == "queued", and_(m.status.in_(ACTIVE), m.lease_expires_at < now))
        result = self.session.execute(
            update(m)
            .where(m.id == job_id, claimable, allowed if allowed is not None else true())
            .where(m.attempt < m.max_attempts)
            .values(
                status="running",
                attempt=m.attempt + 1,
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                started_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) != 1:
            return None
        attempt: int | None = self.session.scalar(select(m.attempt).where(m.id == job_id))
        return attempt

    def renew(
        self, job_id: str, attempt: int, lease_seconds: float, progress: dict[str, Any]
    ) -> Leased | None:
        """Extend the lease and record progress; None when this attempt no longer holds the job."""
        m, now = self.model, utcnow()
        result = self.session.execute(
            update(m)
            .where(m.id == job_id, m.attempt == attempt, m.status.in_(ACTIVE))
            .values(
                lease_expires_at=now + timedelta(seconds=lease_seconds), progress=progress, updated_at=now
            )
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) != 1:
            return None
        return self.get(job_id)

    def finish(
        self,
        job_id: str,
        attempt: int,
        status: str,
        *,
        error: str | None = None,
        progress: dict[str, Any] | None = None,
        expired_before: datetime | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> bool:
        """End the job for this attempt, also setting `values` (columns of its own kind); with
        `expired_before`, only if its lease ran out (the reaper)."""
        m, now = self.model, utcnow()
        ended: dict[str, Any] = {
            "status": status,
            "error": error,
            "finished_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": now,
        }
        condition = [m.id == job_id, m.attempt == attempt, m.status.in_(ACTIVE)]
        if expired_before is not None:
            condition.append(m.lease_expires_at < expired_before)
        if progress is not None:
            ended["progress"] = progress
        query = update(m).where(*condition).values(**ended, **(values or {}))
        return _rowcount(self.session.execute(query.execution_options(synchronize_session=False))) == 1

    def requeue(
        self, job_id: str, attempt: int, *, count_attempt: bool, expired_before: datetime | None = None
    ) -> bool:
        """Hand a job this attempt holds back to the queue. A preemption (SIGTERM) does not count
        against the attempt cap; a lost worker does."""
        m = self.model
        values: dict[str, Any] = {
            "status": "queued",
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": utcnow(),
        }
        if not count_attempt:
            values["max_attempts"] = m.max_attempts + 1
        condition = [m.id == job_id, m.attempt == attempt, m.status == "running"]
        if expired_before is not None:
            condition.append(m.lease_expires_at < expired_before)
        query = update(m).where(*condition).values(**values)
        return _rowcount(self.session.execute(query.execution_options(synchronize_session=False))) == 1

    def settle_expired(self, job: Leased, now: datetime) -> str | None:
        """The fate of a job whose lease expired (its worker was killed, its machine died): `cancelled`
        if a cancel was asked for, `failed` at the attempt cap, else `requeued` counting the attempt.
        None if it came back to life meanwhile (every write re-checks the lease)."""
        if job.cancel_requested:
            done = self.finish(job.id, job.attempt, "cancelled", expired_before=now)
            return "cancelled" if done else None
        if job.attempt >= job.max_attempts:
            error = lost_worker_error(job.attempt, job.max_attempts)
            done = self.finish(job.id, job.attempt, "failed", error=error, expired_before=now)
            return "failed" if done else None
        done = self.requeue(job.id, job.attempt, count_attempt=True, expired_before=now)
        return "requeued" if done else None

    def expired(self, now: datetime) -> list[Leased]:
        """Jobs whose worker stopped renewing its lease."""
        m = self.model
        query = select(m).where(m.status.in_(ACTIVE), m.lease_expires_at < now).order_by(m.id)
        return list(self.session.scalars(query))

    def stale_queued(self, before: datetime, limit: int = 500) -> list[tuple[str, str]]:
        """(id, device) of queued jobs untouched since `before`: their message may have been lost."""
        m = self.model
        query = select(m.id, m.device).where(m.status == "queued", m.updated_at < before)
        return [(row.id, row.device) for row in self.session.execute(query.order_by(m.id).limit(limit))]

    def add_artifact(self, artifact: Artifact) -> None:
        """Record a file the job wrote, replacing one of the same name (a redone attempt writes it again)."""
        owner = getattr(artifact, self.artifact_owner.key)
        self.session.execute(
            delete(Artifact).where(self.artifact_owner == owner, Artifact.name == artifact.name)
        )
        self.session.add(artifact)

    def touch(self, job_id: str) -> None:
        query = update(self.model).where(self.model.id == job_id).values(updated_at=utcnow())
        self.session.execute(query.execution_options(synchronize_session=False))


def lost_worker_error(attempt: int, max_attempts: int) -> str:
    return f"worker lost: lease expired on attempt {attempt} of {max_attempts}"


def _rowcount(result: Result[Any]) -> int:
    assert isinstance(result, CursorResult)
    return result.rowcount
