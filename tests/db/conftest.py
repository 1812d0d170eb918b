"""A migrated database (SQLite and PostgreSQL) holding one project, dataset and queued run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from deepfeat.db.migrate import upgrade
from deepfeat.db.models import Dataset, Project, Run
from deepfeat.db.session import make_engine, make_session_factory


def placeholder_dataset(dataset_id: str, project_id: str) -> Dataset:
    """A dataset row for runs to point at; its blob is never read."""
    return Dataset(
        id=dataset_id,
        project_id=project_id,
        name="d",
        format="npz",
        sha256="0" * 64,
        size_bytes=1,
        blob_key="blobs/00/0",
        n_rows=1,
        schema={},
    )


def placeholder_run(run_id: str, project_id: str, dataset_id: str) -> Run:
    """A queued run row for lease and cap tests; its spec is never built."""
    return Run(
        id=run_id,
        project_id=project_id,
        name="r",
        dataset_id=dataset_id,
        dataset_sha256="0" * 64,
        task="classification",
        spec={},
        progress={},
        best_metrics={},
        max_attempts=2,
    )


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
