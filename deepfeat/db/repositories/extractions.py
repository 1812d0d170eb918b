"""Extraction jobs: one project's view (tenancy), and the fenced writes of the worker running one.

The worker side mirrors `leases.py` for runs (claim with a conditional UPDATE that counts the attempt,
renew, finish, requeue), on the `extractions` table: the runs reaper and train task never see these.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, Result, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from deepfeat.db.models import Artifact, Extraction
from deepfeat.db.types import utcnow

ACTIVE = ("running", "cancelling")


class ExtractionRepository:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def get(self, extraction_id: str) -> Extraction | None:
        return self.session.scalar(
            select(Extraction).where(Extraction.id == extraction_id, Extraction.project_id == self.project_id)
        )

    def page(self, status: str | None, after: str | None, limit: int) -> Sequence[Extraction]:
        """Newest first; `after` is the last id of the previous page."""
        query = select(Extraction).where(Extraction.project_id == self.project_id)
        if status:
            query = query.where(Extraction.status == status)
        if after:
            query = query.where(Extraction.id < after)
        return self.session.scalars(query.order_by(Extraction.id.desc()).limit(limit)).all()

    def add(self, extraction: Extraction) -> Extraction:
        extraction.project_id = self.project_id
        self.session.add(extraction)
        self.session.flush()
        return extraction

    def artifacts(self, extraction_id: str) -> Sequence[Artifact]:
        return self.session.scalars(
            select(Artifact)
            .where(Artifact.extraction_id == extraction_id, Artifact.project_id == self.project_id)
            .order_by(Artifact.name)
        ).all()


class ExtractionLeases:
    """What a worker writes about the extraction it executes: not project-scoped (workers are trusted),
    but every write names its attempt, so a worker that lost its lease changes nothing."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, extraction_id: str) -> Extraction | None:
        return self.session.get(Extraction, extraction_id, populate_existing=True)

    def claim(self, extraction_id: str, owner: str, lease_seconds: float) -> int | None:
        """Take the job if it is queued or its holder's lease expired; the new attempt number, or None."""
        now = utcnow()
        claimable = or_(
            Extraction.status == "queued",
            and_(Extraction.status.in_(ACTIVE), Extraction.lease_expires_at < now),
        )
        result = self.session.execute(
            update(Extraction)
            .where(Extraction.id == extraction_id, claimable, Extraction.attempt < Extraction.max_attempts)
            .values(
                status="running",
                attempt=Extraction.attempt + 1,
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                started_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) != 1:
            return None
        return self.session.scalar(select(Extraction.attempt).where(Extraction.id == extraction_id))

    def renew(
        self, extraction_id: str, attempt: int, lease_seconds: float, progress: dict[str, Any]
    ) -> Extraction | None:
        """Extend the lease and record progress; None when this attempt no longer holds the job."""
        now = utcnow()
        result = self.session.execute(
            update(Extraction)
            .where(
                Extraction.id == extraction_id,
                Extraction.attempt == attempt,
                Extraction.status.in_(ACTIVE),
            )
            .values(
                lease_expires_at=now + timedelta(seconds=lease_seconds), progress=progress, updated_at=now
            )
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) != 1:
            return None
        return self.get(extraction_id)

    def finish(
        self,
        extraction_id: str,
        attempt: int,
        status: str,
        *,
        error: str | None = None,
        progress: dict[str, Any] | None = None,
        dim: int | None = None,
        expired_before: datetime | None = None,
    ) -> bool:
        """End the job for this attempt; with `expired_before`, only if its lease ran out (the reaper)."""
        now = utcnow()
        values: dict[str, Any] = {
            "status": status,
            "error": error,
            "finished_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": now,
        }
        if progress is not None:
            values["progress"] = progress
        if dim is not None:
            values["dim"] = dim
        condition = [
            Extraction.id == extraction_id,
            Extraction.attempt == attempt,
            Extraction.status.in_(ACTIVE),
        ]
        if expired_before is not None:
            condition.append(Extraction.lease_expires_at < expired_before)
        result = self.session.execute(
            update(Extraction).where(*condition).values(**values).execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    def requeue(
        self, extraction_id: str, attempt: int, *, count_attempt: bool, expired_before: datetime | None = None
    ) -> bool:
        """Hand the job back to the queue (it restarts from row 0). A preemption does not count against
        the attempt cap; a lost worker does."""
        values: dict[str, Any] = {
            "status": "queued",
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": utcnow(),
        }
        if not count_attempt:
            values["max_attempts"] = Extraction.max_attempts + 1
        condition = [
            Extraction.id == extraction_id,
            Extraction.attempt == attempt,
            Extraction.status == "running",
        ]
        if expired_before is not None:
            condition.append(Extraction.lease_expires_at < expired_before)
        result = self.session.execute(
            update(Extraction).where(*condition).values(**values).execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    def add_artifact(self, artifact: Artifact) -> None:
        self.session.execute(
            delete(Artifact).where(
                Artifact.extraction_id == artifact.extraction_id, Artifact.name == artifact.name
            )
        )
        self.session.add(artifact)

    def expired(self, now: datetime) -> list[Extraction]:
        """Jobs whose worker stopped renewing its lease."""
        query = (
            select(Extraction)
            .where(Extraction.status.in_(ACTIVE), Extraction.lease_expires_at < now)
            .order_by(Extraction.id)
        )
        return list(self.session.scalars(query))

    def stale_queued(self, before: datetime, limit: int = 500) -> list[tuple[str, str]]:
        """(id, device) of queued jobs untouched since `before`: their message may have been lost."""
        query = select(Extraction.id, Extraction.device).where(
            Extraction.status == "queued", Extraction.updated_at < before
        )
        return [
            (row.id, row.device) for row in self.session.execute(query.order_by(Extraction.id).limit(limit))
        ]

    def touch(self, extraction_id: str) -> None:
        query = update(Extraction).where(Extraction.id == extraction_id).values(updated_at=utcnow())
        self.session.execute(query.execution_options(synchronize_session=False))


def _rowcount(result: Result[Any]) -> int:
    assert isinstance(result, CursorResult)
    return result.rowcount
