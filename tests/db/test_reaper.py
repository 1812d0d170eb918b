"""The reaper against a real database: a queued run left untouched gets its message sent again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.db.models import Run
from deepfeat.db.types import utcnow
from workers.reaper import reap_once


def test_a_stale_queued_run_is_sent_again_once(session: Session, any_db_url: str, tmp_path: Path) -> None:
    session.execute(update(Run).where(Run.id == "run_1").values(updated_at=utcnow() - timedelta(hours=1)))
    session.commit()
    settings = Settings(data_dir=tmp_path, database_url=any_db_url, requeue_queued_after_s=60)
    sent: list[tuple[str, str]] = []
    assert reap_once(settings, lambda run_id, queue: sent.append((run_id, queue)))["resent"] == 1
    assert sent == [("run_1", "cpu")]
    assert reap_once(settings, lambda run_id, queue: sent.append((run_id, queue)))["resent"] == 0  # touched
