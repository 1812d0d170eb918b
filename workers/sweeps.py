"""The workers' side of sweeps: advance them (after a run of the project starts or ends, and on every
reaper tick), judge a trial after each epoch, and end a pruned trial."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from deepfeat.config import Settings
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.repositories.sweeps import running_sweep_projects
from deepfeat.db.session import unit_of_work
from deepfeat.services.runs import Enqueue
from deepfeat.services.sweeps import SweepService
from deepfeat.storage.backends import open_store
from workers.lifecycle import finish

log = logging.getLogger(__name__)


def advance_sweeps(
    sessions: sessionmaker[Session], project_id: str, settings: Settings, enqueue: Enqueue
) -> None:
    """Propose trials for the project's running sweeps where a slot is free, or finish them. Never
    raises: what fails now is tried again on the next reaper tick."""
    try:
        with unit_of_work(sessions) as session:  # then the new trials are enqueued
            store = open_store(settings)
            SweepService(session, project_id, settings, store).advance_all(enqueue)
    except Exception:
        log.exception("advancing the sweeps of project %s failed; the reaper tries again", project_id)


def advance_every_sweep(sessions: sessionmaker[Session], settings: Settings, enqueue: Enqueue) -> None:
    """The reaper's tick: whatever restarted or was lost in between, every running sweep moves on."""
    with sessions() as session:
        projects = running_sweep_projects(session)
    for project_id in projects:
        advance_sweeps(sessions, project_id, settings, enqueue)


class Judge:
    """Asks, after each epoch of a run, whether its sweep's early termination stops it now."""

    def __init__(self, sessions: sessionmaker[Session], run_id: str, settings: Settings) -> None:
        self.sessions, self.run_id, self.settings = sessions, run_id, settings
        self.in_sweep: bool | None = None  # unknown until the first epoch

    def __call__(self) -> str | None:
        """The reason to stop the run now, or None."""
        if self.in_sweep is False:
            return None
        with unit_of_work(self.sessions) as session:
            run = LeaseRepository(session).get(self.run_id)
            self.in_sweep = run is not None and run.sweep_id is not None
            if run is None or not self.in_sweep:
                return None
            store = open_store(self.settings)
            return SweepService(session, run.project_id, self.settings, store).judge(run)


def finish_pruned(
    sessions: sessionmaker[Session],
    run_id: str,
    attempt: int,
    reason: str,
    progress: dict[str, Any],
    metrics: dict[str, float],
) -> None:
    """End a trial its sweep stopped: status `pruned`, the reason in `error` and the event log, and its
    last epoch's metrics as its best (it keeps its metrics; no weights are stored)."""
    finish(
        sessions,
        LeaseRepository,
        run_id,
        attempt,
        "pruned",
        error=reason,
        progress=progress,
        values={"best_metrics": metrics},
        then=lambda leases: leases.add_event(
            run_id, "status", f"pruned: {reason}", data={"status": "pruned", "error": reason}
        ),
    )
