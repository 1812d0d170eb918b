"""Sweeps of one project, their child runs and the metric series a study is rebuilt from."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from deepfeat.db.models import Run, RunMetric, Sweep


class SweepRepository:
    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def get(self, sweep_id: str) -> Sweep | None:
        return self.session.scalar(
            select(Sweep).where(Sweep.id == sweep_id, Sweep.project_id == self.project_id)
        )

    def add(self, sweep: Sweep) -> Sweep:
        self.session.add(sweep)
        self.session.flush()
        return sweep

    def page(self, status: str | None, after: str | None, limit: int) -> Sequence[Sweep]:
        """Newest first; `after` is the last id of the previous page."""
        query = select(Sweep).where(Sweep.project_id == self.project_id)
        if status:
            query = query.where(Sweep.status == status)
        if after:
            query = query.where(Sweep.id < after)
        return self.session.scalars(query.order_by(Sweep.id.desc()).limit(limit)).all()

    def running(self) -> Sequence[Sweep]:
        return self.session.scalars(
            select(Sweep).where(Sweep.project_id == self.project_id, Sweep.status == "running")
        ).all()

    def children(self, sweep_id: str) -> Sequence[Run]:
        """The sweep's runs, in trial order (ids are time-ordered, as trials are proposed)."""
        return self.session.scalars(
            select(Run)
            .where(Run.sweep_id == sweep_id, Run.project_id == self.project_id)
            .order_by(Run.id)
            .execution_options(populate_existing=True)
        ).all()

    def take_proposals(self, sweep_id: str, seen: int, now: int) -> bool:
        """Move `proposed` from `seen` to `now` if no other driver moved it meanwhile (compare-and-set:
        two drivers at once cannot both propose trial n)."""
        result = self.session.execute(
            update(Sweep)
            .where(Sweep.id == sweep_id, Sweep.proposed == seen, Sweep.status == "running")
            .values(proposed=now)
            .execution_options(synchronize_session=False)
        )
        return isinstance(result, CursorResult) and result.rowcount == 1

    def series(self, run_ids: Sequence[str], key: str) -> dict[str, dict[int, float]]:
        """run id → {epoch: value of `key`} (the latest attempt's value wins for an epoch)."""
        out: dict[str, dict[int, float]] = defaultdict(dict)
        if not run_ids:
            return out
        rows = self.session.execute(
            select(RunMetric.run_id, RunMetric.epoch, RunMetric.value)
            .where(RunMetric.run_id.in_(run_ids), RunMetric.key == key)
            .order_by(RunMetric.attempt, RunMetric.id)
        )
        for run_id, epoch, value in rows:
            out[run_id][epoch] = value
        return out


def running_sweep_projects(session: Session) -> list[str]:
    """Projects with a running sweep (the reaper's tick advances them all)."""
    return list(session.scalars(select(Sweep.project_id).where(Sweep.status == "running").distinct()))
