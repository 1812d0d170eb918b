"""Alembic: the chain upgrades, downgrades and upgrades again, and the models do not drift from it."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from deepfeat.db.migrate import SchemaOutOfDateError, downgrade, ensure_up_to_date, head_revision, upgrade
from deepfeat.db.models import Base
from deepfeat.db.session import make_engine

TABLES = {
    "projects",
    "api_keys",
    "datasets",
    "runs",
    "run_metrics",
    "run_events",
    "artifacts",
    "encoders",
    "encoder_aliases",
    "workers",
    "extractions",
}


def test_upgrade_downgrade_upgrade(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    try:
        upgrade(any_db_url)
        assert set(inspect(engine).get_table_names()) >= TABLES
        downgrade(any_db_url, "base")
        assert not TABLES & set(inspect(engine).get_table_names())
        upgrade(any_db_url)
        ensure_up_to_date(engine)
    finally:
        engine.dispose()


def test_models_and_migrations_do_not_drift(any_db_url: str) -> None:
    upgrade(any_db_url)
    engine = make_engine(any_db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == [], f"models differ from the migrations; run alembic revision --autogenerate: {diff}"
    finally:
        engine.dispose()


def test_an_unmigrated_database_is_refused_with_the_fix(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    try:
        with pytest.raises(SchemaOutOfDateError, match="deepfeat migrate") as info:
            ensure_up_to_date(engine)
        assert head_revision() in str(info.value)
    finally:
        engine.dispose()
