"""Which workers are online, as one project may see them (the API, the dashboard and `/metrics`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.db.repositories.workers import WorkerRepository, WorkerView, stale_after


def online_workers(session: Session, project_id: str | None, settings: Settings) -> list[WorkerView]:
    """Workers heard from within a few heartbeats; a busy one names its run only to the run's project."""
    return WorkerRepository(session).online(project_id, stale_after(settings.heartbeat_seconds))


def count_online(session: Session, settings: Settings) -> int:
    return WorkerRepository(session).count_online(stale_after(settings.heartbeat_seconds))
