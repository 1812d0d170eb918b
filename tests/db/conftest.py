"""A migrated database (SQLite and PostgreSQL) holding one project, dataset and queued run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from deepfeat.data.schema import DatasetSchema
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
        schema=DatasetSchema(),
    )


def placeholder_run(run_id: str, project_id: str, dataset_id: str, **fields: Any) -> Run:
    """A run row (queued unless `fields` say otherwise) for lease, cap and listing tests; its spec is
    never built."""
    row: dict[str, Any] = {
        "name": "r",
        "dataset_sha256": "0" * 64,
        "task": "classification",
        "spec": {},
        "progress": {},
        "best_metrics": {},
        "max_attempts": 2,
    }
    return Run(id=run_id, project_id=project_id, dataset_id=dataset_id, **(row | fields))


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
