"""What a worker writes about the run it executes (see `fencing.py` for the lease and its fencing),
plus what only runs have: metrics, events and the per-project cap on concurrent runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, select
from sqlalchemy.orm import Session, aliased

from deepfeat.db.models import Artifact, Project, Run, RunEvent, RunMetric
from deepfeat.db.repositories.fencing import ACTIVE, FencedLeases

__all__ = ["ACTIVE", "LeaseRepository"]


class LeaseRepository(FencedLeases[Run]):
    def __init__(self, session: Session) -> None:
        super().__init__(session, Run, Artifact.run_id)

    def claim(self, run_id: str, owner: str, lease_seconds: float, max_active: int = 0) -> int | None:
        """Take the run if it is queued or its holder's lease expired; the new attempt number, or None.

        With `max_active` > 0 the project must have fewer than `max_active` other runs running, and no
        older run of the project may be waiting for the same device (a project's runs start in the
        order they were submitted, the order `queue_position` shows). Race-free: on PostgreSQL the
        project's row is locked first, so two workers claiming runs of one project count one after the
        other (the UPDATE's count sees the first's commit); on SQLite one UPDATE statement holds the
        database's write lock from its start."""
        under_cap: ColumnElement[bool] | None = None
        if max_active > 0:
            found = self.session.execute(select(Run.project_id, Run.device).where(Run.id == run_id)).first()
            if found is None:
                return None
            project_id, device = found
            self.session.execute(select(Project.id).where(Project.id == project_id).with_for_update())
            other = aliased(Run)
            running = (
                select(func.count())
                .select_from(other)
                .where(other.project_id == project_id, other.status.in_(ACTIVE), other.id != run_id)
                .scalar_subquery()
            )
            older_waiting = exists().where(
                other.project_id == project_id,
                other.status == "queued",
                other.device == device,
                other.id < run_id,
            )
            under_cap = and_(running < max_active, ~older_waiting)
        return self._claim(run_id, owner, lease_seconds, under_cap)

    def record_metrics(
        self, run_id: str, attempt: int, epoch: int, step: int, metrics: dict[str, float]
    ) -> None:
        # A resumed attempt may redo an epoch: replace, never duplicate, its values.
        self.session.execute(
            delete(RunMetric).where(
                RunMetric.run_id == run_id, RunMetric.step == step, RunMetric.key.in_(list(metrics))
            )
        )
        self.session.add_all(
            RunMetric(run_id=run_id, step=step, epoch=epoch, key=k, value=float(v), attempt=attempt)
            for k, v in metrics.items()
        )

    def add_event(
        self, run_id: str, kind: str, message: str, *, level: str = "info", data: dict[str, Any] | None = None
    ) -> None:
        self.session.add(RunEvent(run_id=run_id, kind=kind, level=level, message=message, data=data or {}))

    def startable(self, project_id: str, max_active: int) -> list[tuple[str, str]]:
        """(id, device) of the oldest queued runs of a project that fit under its cap now, to send again
        when a slot frees: a run a worker left queued at the cap has no message left. Empty without a
        cap (every queued run's message is still on the broker). A run sent twice is claimed once."""
        if max_active <= 0:
            return []
        running = self.session.scalar(
            select(func.count()).where(Run.project_id == project_id, Run.status.in_(ACTIVE))
        )
        free = max_active - int(running or 0)
        if free <= 0:
            return []
        waiting: list[tuple[str, str]] = []
        for device in self.session.scalars(
            select(Run.device).where(Run.project_id == project_id, Run.status == "queued").distinct()
        ).all():  # per device: a run waiting for a GPU must not hold back the CPU queue
            query = select(Run.id).where(
                Run.project_id == project_id, Run.status == "queued", Run.device == device
            )
            waiting += [
                (run_id, device) for run_id in self.session.scalars(query.order_by(Run.id).limit(free))
            ]
        return sorted(waiting)
