"""The per-project cap on concurrent runs: claims past it leave runs queued, race-free on both databases,
and a freed slot names the runs to send again."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.db.models import Project, Run
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.repositories.runs import RunRepository
from deepfeat.db.session import make_session_factory
from deepfeat.db.types import utcnow
from tests.helpers.db import placeholder_dataset, placeholder_run
from workers.reaper import reap_once


def add_runs(session: Session, project_id: str, ids: list[str], dataset_id: str = "ds_1") -> None:
    for run_id in ids:
        session.add(placeholder_run(run_id, project_id, dataset_id))
    session.commit()


def test_runs_past_the_cap_stay_queued_and_a_freed_slot_names_the_oldest(session: Session) -> None:
    add_runs(session, "prj_1", ["run_2", "run_3"])
    leases = LeaseRepository(session)
    assert leases.claim("run_1", "w1", 60, max_active=1) == 1
    session.commit()
    assert leases.claim("run_2", "w2", 60, max_active=1) is None
    session.rollback()
    assert leases.startable("prj_1", 1) == []
    positions = RunRepository(session, "prj_1").queue_positions(
        [r for r in (leases.get("run_2"), leases.get("run_3")) if r is not None]
    )
    assert positions == {"run_2": 1, "run_3": 2}
    # Another project is not held back by this one's cap.
    session.add(Project(id="prj_2", name="q"))
    session.flush()
    session.add(placeholder_dataset("ds_2", "prj_2"))
    session.commit()
    add_runs(session, "prj_2", ["run_9"], "ds_2")
    assert leases.claim("run_9", "w3", 60, max_active=1) == 1
    session.commit()

    assert leases.finish("run_1", 1, "succeeded")
    session.commit()
    assert leases.startable("prj_1", 1) == [("run_2", "cpu")]
    assert leases.startable("prj_1", 0) == []  # no cap: messages are still on the broker
    assert leases.claim("run_2", "w2", 60, max_active=1) == 1
    session.commit()
    # A lease-expired run being taken over does not count against itself.
    assert leases.claim("run_3", "w2", 60, max_active=0) == 1  # cap 0: unlimited
    session.commit()


def test_two_workers_cannot_both_take_the_last_slot(session: Session) -> None:
    add_runs(session, "prj_1", ["run_2"])
    bind = session.get_bind()
    sessions = make_session_factory(bind)  # type: ignore[arg-type]
    results: dict[str, int | None] = {}
    with sessions() as first:
        assert LeaseRepository(first).claim("run_1", "w1", 60, max_active=1) == 1  # not committed yet

        def second() -> None:
            with sessions() as other:
                results["run_2"] = LeaseRepository(other).claim("run_2", "w2", 60, max_active=1)
                other.commit()

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), "the second claim must wait for the first to commit"
        first.commit()
        thread.join(timeout=30)
    assert results == {"run_2": None}
    running = list(RunRepository(session, "prj_1").page("running", None, 10))
    assert [r.id for r in running] == ["run_1"]


def test_the_reaper_starts_a_waiting_run_when_it_fails_a_lost_one(
    session: Session, any_db_url: str, tmp_path: Path
) -> None:
    add_runs(session, "prj_1", ["run_2"])
    leases = LeaseRepository(session)
    assert leases.claim("run_1", "w1", 60, max_active=1) == 1
    session.execute(
        update(Run)
        .where(Run.id == "run_1")
        .values(max_attempts=1, lease_expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    settings = Settings(data_dir=tmp_path, database_url=any_db_url, max_concurrent_runs_per_project=1)
    sent: list[tuple[str, str]] = []
    counts = reap_once(settings, lambda run_id, queue: sent.append((run_id, queue)))
    assert counts["failed"] == 1
    assert sent == [("run_2", "cpu")]


def test_a_projects_runs_start_in_order_per_device(session: Session) -> None:
    add_runs(session, "prj_1", ["run_2", "run_3"])
    session.execute(update(Run).where(Run.id == "run_3").values(device="gpu"))
    session.commit()
    leases = LeaseRepository(session)
    assert leases.claim("run_2", "w1", 60, max_active=3) is None  # run_1 was submitted first
    session.rollback()
    assert leases.claim("run_3", "w1", 60, max_active=3) == 1  # another device's queue: not held back
    session.commit()
    assert leases.startable("prj_1", 3) == [("run_1", "cpu"), ("run_2", "cpu")]  # two slots free
    assert leases.claim("run_1", "w2", 60, max_active=3) == 1
    session.commit()
    assert leases.startable("prj_1", 3) == [("run_2", "cpu")]
    assert leases.claim("run_2", "w3", 60, max_active=3) == 1
    session.commit()
