"""Values every host must agree on live in the database, not in a data dir."""

from __future__ import annotations

from sqlalchemy.orm import Session

from deepfeat.db.migrate import upgrade
from deepfeat.db.repositories.state import StateRepository
from deepfeat.db.session import make_engine
from deepfeat.services.signals import KEYS_REVOKED, dashboard_secret, record_revocation


def test_every_process_gets_the_first_dashboard_secret_and_sees_revocations(any_db_url: str) -> None:
    upgrade(any_db_url)
    engine = make_engine(any_db_url)
    with Session(engine) as first, Session(engine) as second:
        made = dashboard_secret(first)
        first.commit()
        assert dashboard_secret(second) == made  # another API process, another data dir: same secret
        second.commit()
        assert len(made) >= 48
        before = StateRepository(second).version(KEYS_REVOKED)
        second.commit()
        record_revocation(first)
        record_revocation(first)
        first.commit()
        second.rollback()  # a fresh transaction sees the other's commit
        assert StateRepository(second).version(KEYS_REVOKED) == before + 2
    engine.dispose()
