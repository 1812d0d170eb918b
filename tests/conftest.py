"""Shared fixtures: isolated settings per test, migrated databases (SQLite and, when CI gives one,
PostgreSQL), and an in-process API client."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url

from deepfeat.config import Settings
from deepfeat.db.migrate import upgrade
from tests.helpers.env import ADMIN_KEY, PG_URL, admin_conninfo
from tests.s3server import s3_endpoint, s3_url  # noqa: F401 - fixtures for every test module

# Property tests and the API fuzzer run the same examples every time by default, so a landing never
# hinges on luck; `HYPOTHESIS_PROFILE=explore make test` searches fresh examples (how new bugs are found).
hypothesis_settings.register_profile("deterministic", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    path.mkdir()
    return path


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module marked `pytest.mark.engines` runs each test that uses settings once per embedding
    engine (torch and onnx)."""
    if metafunc.definition.get_closest_marker("engines") and "embed_engine" in metafunc.fixturenames:
        metafunc.parametrize("embed_engine", ["torch", "onnx"], indirect=True)


@pytest.fixture
def embed_engine(request: pytest.FixtureRequest) -> str:
    """`DEEPFEAT_EMBED_ENGINE` for the test: the default, or each engine under `mark.engines`."""
    engine: str = getattr(request, "param", "auto")
    return engine


@pytest.fixture
def settings(data_dir: Path, embed_engine: str) -> Settings:
    """Embedded defaults (SQLite + SQLite broker) in a fresh data dir, migrated."""
    s = Settings(data_dir=data_dir, bootstrap_key=ADMIN_KEY, embed_engine=embed_engine)
    upgrade(s.resolved_database_url)
    return s


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    yield from fresh_pg_database()


@pytest.fixture(scope="module")
def pg_database_for_module() -> Iterator[str]:
    """The same, shared by a module's tests (for a stack the module starts once)."""
    yield from fresh_pg_database()


def fresh_pg_database() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("DEEPFEAT_TEST_DATABASE_URL not set (CI sets it)")
    name = f"deepfeat_{secrets.token_hex(6)}"
    with psycopg.connect(admin_conninfo(PG_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_conninfo(PG_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, data_dir: Path) -> str:
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{data_dir / 'deepfeat.db'}"
    url: str = request.getfixturevalue("pg_database")
    return url


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from service.app import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}
