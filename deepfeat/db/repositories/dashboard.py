"""Read models for the dashboard and `/metrics`: counts across the whole service, queue positions and the
workers seen through their leases.

Cross-project answers here are numbers and worker names only; anything that names a run or an object is
scoped to a project by the caller's id, as in the other repositories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deepfeat.db.models import Encoder, Run
from deepfeat.db.types import utcnow

ACTIVE = ("running", "cancelling")


@dataclass(frozen=True)
class WorkerSeen:
    """A worker holding a live lease. `run_id` is None when that run belongs to another project."""

    owner: str
    device: str
    run_id: str | None
    run_name: str | None
    lease_expires_at: datetime | None


class DashboardRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def status_counts(self) -> dict[str, int]:
        """Runs per status over every project (for `/metrics`)."""
        rows = self.session.execute(select(Run.status, func.count()).group_by(Run.status)).all()
        return {str(s): int(n) for s, n in rows}

    def queue_depth(self) -> dict[str, int]:
        """Queued runs per queue (`cpu`, `gpu`)."""
        rows = self.session.execute(
            select(Run.device, func.count()).where(Run.status == "queued").group_by(Run.device)
        ).all()
        return {str(d): int(n) for d, n in rows}

    def live_workers(self, project_id: str | None = None) -> list[WorkerSeen]:
        """Workers whose lease on an active run has not expired. Idle workers hold no lease and are
        invisible here; `project_id` decides which of the runs they hold may be named."""
        now = utcnow()
        runs = self.session.scalars(
            select(Run)
            .where(Run.status.in_(ACTIVE), Run.lease_owner.is_not(None), Run.lease_expires_at >= now)
            .order_by(Run.lease_owner)
        ).all()
        return [
            WorkerSeen(
                owner=r.lease_owner or "",
                device=r.device,
                run_id=r.id if r.project_id == project_id else None,
                run_name=r.name if r.project_id == project_id else None,
                lease_expires_at=r.lease_expires_at,
            )
            for r in runs
        ]

    def queue_positions(self, runs: Sequence[Run]) -> dict[str, int]:
        """1-based place in its queue of each queued run in `runs` (ids sort by submission time)."""
        positions: dict[str, int] = {}
        for run in runs:
            if run.status == "queued":
                ahead = self.session.scalar(
                    select(func.count()).where(
                        Run.status == "queued", Run.device == run.device, Run.id < run.id
                    )
                )
                positions[run.id] = (ahead or 0) + 1
        return positions

    def encoders(self, project_id: str) -> Sequence[Encoder]:
        """Encoders the project registered from its runs (the pretrained catalogue lives in code)."""
        return self.session.scalars(
            select(Encoder).where(Encoder.project_id == project_id).order_by(Encoder.name, Encoder.version)
        ).all()
