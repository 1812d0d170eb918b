"""Projects and their API keys."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from deepfeat.db.models import ApiKey, Project


class ProjectRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_by_name(self, name: str) -> Project | None:
        return self.session.scalar(select(Project).where(Project.name == name))

    def add(self, project: Project) -> Project:
        self.session.add(project)
        self.session.flush()
        return project

    def key_by_hash(self, key_hash: str) -> ApiKey | None:
        return self.session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))

    def keys(self, project_id: str) -> Sequence[ApiKey]:
        return self.session.scalars(
            select(ApiKey).where(ApiKey.project_id == project_id).order_by(ApiKey.created_at, ApiKey.id)
        ).all()

    def key(self, project_id: str, key_id: str) -> ApiKey | None:
        return self.session.scalar(select(ApiKey).where(ApiKey.project_id == project_id, ApiKey.id == key_id))

    def add_key(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        self.session.flush()
        return key
