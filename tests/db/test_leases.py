"""Claiming runs: one attempt at a time, fenced writes, expired leases taken over."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from deepfeat.db.migrate import upgrade
from deepfeat.db.models import Dataset, Project, Run
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.db.types import utcnow


@pytest.fixture
def session(any_db_url: str) -> Iterator[Session]:
    upgrade(any_db_url)
    engine = make_engine(any_db_url)
    with make_session_factory(engine)() as s:
        s.add(Project(id="prj_1", name="p"))
        s.flush()  # no ORM relationships: insert parents first ourselves
        s.add(
            Dataset(
                id="ds_1",
                project_id="prj_1",
                name="d",
                format="npz",
                sha256="0" * 64,
                size_bytes=1,
                blob_key="blobs/00/0",
                n_rows=1,
                schema={},
            )
        )
        s.flush()
        s.add(
            Run(
                id="run_1",
                project_id="prj_1",
                name="r",
                dataset_id="ds_1",
                dataset_sha256="0" * 64,
                task="classification",
                spec={},
                progress={},
                best_metrics={},
                max_attempts=2,
            )
        )
        s.commit()
        yield s
    engine.dispose()


def test_a_run_is_claimed_once_and_a_duplicate_delivery_finds_it_held(session: Session) -> None:
    leases = LeaseRepository(session)
    assert leases.claim("run_1", "w1", 60) == 1
    session.commit()
    assert leases.claim("run_1", "w2", 60) is None
    assert leases.claim("run_unknown", "w2", 60) is None


def test_an_expired_lease_is_taken_over_and_the_old_attempt_is_fenced_out(session: Session) -> None:
    leases = LeaseRepository(session)
    assert leases.claim("run_1", "w1", 60) == 1
    session.execute(
        update(Run).where(Run.id == "run_1").values(lease_expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    assert leases.claim("run_1", "w2", 60) == 2
    session.commit()
    # The first worker wakes up: none of its writes land.
    assert leases.renew("run_1", 1, 60, {"epoch": 3}) is None
    assert leases.finish("run_1", 1, "succeeded") is False
    assert leases.finish("run_1", 2, "succeeded") is True
    session.commit()
    run = leases.get("run_1")
    assert run is not None
    assert (run.status, run.attempt, run.lease_owner) == ("succeeded", 2, None)


def test_no_claim_beyond_the_attempt_cap_or_after_the_end(session: Session) -> None:
    leases = LeaseRepository(session)
    for attempt in (1, 2):
        session.execute(
            update(Run)
            .where(Run.id == "run_1")
            .values(
                status="queued" if attempt == 1 else "running",
                lease_expires_at=utcnow() - timedelta(seconds=1),
            )
        )
        assert leases.claim("run_1", "w", 60) == attempt
        session.execute(
            update(Run).where(Run.id == "run_1").values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert leases.claim("run_1", "w", 60) is None  # max_attempts=2 reached


def test_metrics_of_a_redone_epoch_replace_rather_than_duplicate(session: Session) -> None:
    from deepfeat.db.repositories.runs import RunRepository

    leases = LeaseRepository(session)
    leases.record_metrics("run_1", 1, epoch=1, step=10, metrics={"loss": 2.0, "val_loss": 2.5})
    session.commit()
    leases.record_metrics("run_1", 2, epoch=1, step=10, metrics={"loss": 1.9, "val_loss": 2.4})
    session.commit()
    rows = RunRepository(session, "prj_1").metrics("run_1", None)
    assert [(m.key, m.value, m.attempt) for m in rows] == [("loss", 1.9, 2), ("val_loss", 2.4, 2)]
    assert RunRepository(session, "prj_other").metrics("run_1", None) == []
