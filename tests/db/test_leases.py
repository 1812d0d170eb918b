"""Claiming runs: one attempt at a time, fenced writes, expired leases taken over."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from deepfeat.db.models import Run
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.types import utcnow


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
