"""The worker's reporter against a real database: cancel lands on the next step, epochs are recorded."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from deepfeat.config import Settings
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.repositories.runs import RunRepository
from deepfeat.db.session import commit
from deepfeat.services.runs import RunService
from deepfeat.storage.local import FileStore
from workers.reporter import DbReporter


def test_cancel_is_seen_on_the_very_next_step(session: Session, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, heartbeat_seconds=3600)
    attempt = LeaseRepository(session).claim("run_1", "w", 60)
    session.commit()
    assert attempt == 1
    sessions = sessionmaker(session.get_bind())
    reporter = DbReporter(sessions, "run_1", attempt, settings, total_epochs=3)
    assert reporter.should_stop() is False
    assert reporter.should_stop() is False  # within the DB poll interval: no query, still running

    service = RunService(session, "prj_1", settings, FileStore(tmp_path / "artifacts"))
    service.cancel("run_1")
    commit(session)  # the after-commit hook drops the flag file the worker watches
    assert reporter.should_stop() is True

    reporter.epoch_end(1, 10, {"loss": 1.0})
    rows = RunRepository(session, "prj_1").metrics("run_1", "loss")
    assert [(m.epoch, m.value) for m in rows] == [(1, 1.0)]
