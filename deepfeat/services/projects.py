"""Projects: the deployment admin creates them and issues their first keys; a key reads its own."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.db.models import ApiKey, Project
from deepfeat.db.repositories.projects import ProjectRepository
from deepfeat.errors import Conflict, NotFound
from deepfeat.ids import new_id
from deepfeat.services import auth
from deepfeat.services.auth import Principal
from deepfeat.services.paging import cursor_page


class ProjectService:
    def __init__(self, session: Session, who: Principal, settings: Settings) -> None:
        self.session = session
        self.who = who
        self.repo = ProjectRepository(session)
        self.settings = settings

    def create(self, name: str) -> Project:
        auth.require_deployment_admin(self.session, self.who)
        if self.repo.get_by_name(name) is not None:
            raise Conflict(f"a project named {name!r} exists already")
        return self.repo.add(Project(id=new_id("prj"), name=name))

    def page(self, after: str | None, limit: int) -> tuple[list[Project], str | None]:
        auth.require_deployment_admin(self.session, self.who)
        return cursor_page(lambda n: self.repo.page(after, n), limit, self.settings.page_size_max)

    def get(self, ref: str) -> Project:
        """A project by id or name: any project for the deployment admin, else only the key's own (other
        projects answer 404, as their objects do)."""
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,200}", ref):  # no id or name looks otherwise (a NUL would
            raise NotFound(f"project {ref!r} not found")  # make PostgreSQL fail, not miss)
        project = self.repo.get(ref) or self.repo.get_by_name(ref)
        if project is None or (
            project.id != self.who.project_id and not auth.is_deployment_admin(self.session, self.who)
        ):
            raise NotFound(f"project {ref!r} not found")
        return project

    def usage(self, project: Project) -> tuple[int, int]:
        """(dataset bytes, artifact bytes) the project keeps in the artifact store."""
        return self.repo.stored_bytes(project.id)

    def issue_key(self, ref: str, scope: str, name: str) -> tuple[ApiKey, str]:
        project = self.get(ref)  # first: another project's id is a 404 to anyone but the deployment admin
        auth.require_deployment_admin(self.session, self.who)
        return auth.issue_key(self.session, project.id, scope, name)

    def keys(self, ref: str) -> Sequence[ApiKey]:
        project = self.get(ref)
        auth.require_deployment_admin(self.session, self.who)
        return self.repo.keys(project.id)
