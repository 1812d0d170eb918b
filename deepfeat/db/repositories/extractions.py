"""Extraction jobs: one project's view (tenancy), and the fenced writes of the worker running one.

The worker side shares the fenced lease of runs (`fencing.py`) on its own table: the runs reaper and
train task never see these.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from deepfeat.db.models import Artifact, Extraction
from deepfeat.db.repositories.fencing import ACTIVE, FencedLeases

__all__ = ["ACTIVE", "ExtractionLeases", "ExtractionRepository"]


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


class ExtractionLeases(FencedLeases[Extraction]):
    """What a worker writes about the extraction it executes (leases and fencing: `fencing.py`). A job
    requeued after a lost worker restarts from row 0."""

    def __init__(self, session: Session) -> None:
        super().__init__(session, Extraction, Artifact.extraction_id)

    def claim(self, extraction_id: str, owner: str, lease_seconds: float) -> int | None:
        return self._claim(extraction_id, owner, lease_seconds)
