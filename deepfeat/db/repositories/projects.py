"""Projects and their API keys."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deepfeat.db.models import ApiKey, Artifact, Dataset, Project


class ProjectRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, project_id: str) -> Project | None:
        return self.session.scalar(select(Project).where(Project.id == project_id))

    def get_by_name(self, name: str) -> Project | None:
        return self.session.scalar(select(Project).where(Project.name == name))

    def page(self, after: str | None, limit: int) -> Sequence[Project]:
        """Oldest first (ids sort by creation time); `after` is the last id of the previous page."""
        query = select(Project)
        if after:
            query = query.where(Project.id > after)
        return self.session.scalars(query.order_by(Project.id).limit(limit)).all()

    def add(self, project: Project) -> Project:
        self.session.add(project)
        self.session.flush()
        return project

    def lock(self, project_id: str) -> None:
        """Serialise key changes of one project (row lock on PostgreSQL; SQLite has one writer anyway)."""
        self.session.execute(select(Project.id).where(Project.id == project_id).with_for_update())

    def stored_bytes(self, project_id: str) -> tuple[int, int]:
        """(dataset bytes, artifact bytes) of the project, each blob counted once however many rows name
        it (the store is content-addressed: two uploads of one file take its size once)."""
        datasets = (
            select(Dataset.sha256, Dataset.size_bytes)
            .where(Dataset.project_id == project_id, Dataset.deleted_at.is_(None))
            .distinct()
            .subquery()
        )
        artifacts = (
            select(Artifact.sha256, Artifact.size_bytes)
            .where(Artifact.project_id == project_id)
            .distinct()
            .subquery()
        )
        d = self.session.scalar(select(func.coalesce(func.sum(datasets.c.size_bytes), 0)))
        a = self.session.scalar(select(func.coalesce(func.sum(artifacts.c.size_bytes), 0)))
        return int(d or 0), int(a or 0)

    def key_by_hash(self, key_hash: str) -> ApiKey | None:
        return self.session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))

    def keys(self, project_id: str) -> Sequence[ApiKey]:
        return self.session.scalars(
            select(ApiKey).where(ApiKey.project_id == project_id).order_by(ApiKey.created_at, ApiKey.id)
        ).all()

    def key(self, project_id: str, key_id: str) -> ApiKey | None:
        return self.session.scalar(select(ApiKey).where(ApiKey.project_id == project_id, ApiKey.id == key_id))

    def live_admin_keys(self, project_id: str) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(ApiKey)
                .where(ApiKey.project_id == project_id, ApiKey.scope == "admin", ApiKey.revoked_at.is_(None))
            )
            or 0
        )

    def add_key(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        self.session.flush()
        return key
