"""Deployment-wide values in `deployment_state`: made once and shared, or counters bumped on change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from deepfeat.db.models import DeploymentState
from deepfeat.db.types import utcnow


class StateRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _insert(self) -> Any:  # the dialect's INSERT, which has ON CONFLICT
        dialect = self.session.get_bind().dialect.name
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(DeploymentState)

    def value(self, name: str, initial: str) -> str:
        """The value stored under `name`, storing `initial` if there is none yet (the first writer wins,
        so racing processes all end up with one value)."""
        statement = self._insert().values(name=name, value=initial, version=0, updated_at=utcnow())
        self.session.execute(statement.on_conflict_do_nothing(index_elements=[DeploymentState.name]))
        return self.session.execute(
            select(DeploymentState.value).where(DeploymentState.name == name)
        ).scalar_one()

    def bump(self, name: str) -> None:
        """Add one to the counter `name` (in the caller's transaction)."""
        now = utcnow()
        statement = self._insert().values(name=name, value="", version=1, updated_at=now)
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[DeploymentState.name],
                set_={"version": DeploymentState.version + 1, "updated_at": now},
            )
        )

    def version(self, name: str) -> int:
        found = self.session.execute(
            select(DeploymentState.version).where(DeploymentState.name == name)
        ).scalar_one_or_none()
        return int(found or 0)
