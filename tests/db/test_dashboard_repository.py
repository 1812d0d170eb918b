"""The dashboard's read models on both databases: counts, queue places, encoders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from deepfeat.db.models import Run
from deepfeat.db.repositories.dashboard import DashboardRepository
from deepfeat.db.repositories.runs import RunRepository
from deepfeat.db.types import utcnow
from tests.helpers.db import placeholder_run


def run(run_id: str, project: str, status: str, device: str = "cpu", owner: str | None = None) -> Run:
    live = status in ("running", "cancelling")
    expires = utcnow() + timedelta(seconds=60 if owner != "gone" else -60) if live else None
    return placeholder_run(
        run_id,
        project,
        "ds_1",
        name=run_id,
        device=device,
        status=status,
        lease_owner=owner,
        lease_expires_at=expires,
    )


@pytest.fixture
def session(two_projects: Session) -> Session:
    two_projects.add_all(
        [
            run("run_01", "prj_a", "succeeded"),
            run("run_02", "prj_a", "running", owner="host:1"),
            run("run_03", "prj_b", "running", owner="host:2"),
            run("run_04", "prj_b", "cancelling", owner="gone"),  # its worker died: lease expired
            run("run_05", "prj_b", "queued"),
            run("run_06", "prj_a", "queued"),
            run("run_07", "prj_a", "queued", device="gpu"),
        ]
    )
    two_projects.commit()
    return two_projects


def test_counts_and_queue_depth_cover_every_project(session: Session) -> None:
    repo = DashboardRepository(session)
    assert repo.status_counts() == {"succeeded": 1, "running": 2, "cancelling": 1, "queued": 3}
    assert repo.queue_depth() == {"cpu": 2, "gpu": 1}


def test_queue_position_counts_earlier_queued_runs_of_the_same_project(session: Session) -> None:
    """The project's cap on concurrent runs starts its queued runs oldest first, whatever the device,
    and other projects' runs never hold them back: that order is the position shown everywhere."""
    runs = [session.get_one(Run, i) for i in ("run_01", "run_05", "run_06", "run_07")]
    assert RunRepository(session, "prj_a").queue_positions(runs) == {"run_06": 1, "run_07": 2}
    assert RunRepository(session, "prj_b").queue_positions(runs) == {"run_05": 1}


def test_encoders_of_another_project_are_not_listed(session: Session) -> None:
    assert DashboardRepository(session).encoders("prj_a") == []


def test_a_run_read_with_its_queue_place_agrees_with_the_queue(session: Session) -> None:
    """`GET /v1/runs/{id}` reads the run and its place in one statement: the same places as the
    queue's, None for a run that is not queued, and nothing for another project's run."""
    repo = RunRepository(session, "prj_a")
    queued = [session.get_one(Run, i) for i in ("run_06", "run_07")]
    for run_id, place in repo.queue_positions(queued).items():
        found = repo.get_with_queue_position(run_id)
        assert found is not None
        assert found[0].id == run_id
        assert found[1] == place
    assert repo.get_with_queue_position("run_02") == (session.get_one(Run, "run_02"), None)
    assert repo.get_with_queue_position("run_05") is None  # prj_b's
    assert RunRepository(session, "prj_b").get_with_queue_position("run_05") == (
        session.get_one(Run, "run_05"),
        1,
    )
