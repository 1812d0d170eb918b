"""A migrated database (SQLite and PostgreSQL) holding one project, dataset and queued run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from deepfeat.db.migrate import upgrade
from deepfeat.db.models import Project
from deepfeat.db.session import make_engine, make_session_factory
from tests.helpers.db import placeholder_dataset, placeholder_run


@pytest.fixture
def two_projects(any_db_url: str) -> Iterator[Session]:
    """Projects `prj_a` and `prj_b`, and a dataset `ds_1` of `prj_a` for runs to point at."""
    upgrade(any_db_url)
    engine = make_engine(any_db_url)
    with make_session_factory(engine)() as s:
        s.add_all([Project(id="prj_a", name="a"), Project(id="prj_b", name="b")])
        s.flush()
        s.add(placeholder_dataset("ds_1", "prj_a"))
        s.flush()
        yield s
    engine.dispose()


@pytest.fixture
def session(any_db_url: str) -> Iterator[Session]:
    upgrade(any_db_url)
    engine = make_engine(any_db_url)
    with make_session_factory(engine)() as s:
        s.add(Project(id="prj_1", name="p"))
        s.flush()  # no ORM relationships: insert parents first ourselves
        s.add(placeholder_dataset("ds_1", "prj_1"))
        s.flush()
        s.add(placeholder_run("run_1", "prj_1", "ds_1"))
        s.commit()
        yield s
    engine.dispose()
