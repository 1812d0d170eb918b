"""A running DevStack on the embedded defaults or on PostgreSQL + Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deepfeat.devstack import DevStack
from tests.helpers.env import ADMIN_KEY, REDIS_URL


def running_stack(
    request: pytest.FixtureRequest, tmp_path: Path, extra_env: dict[str, str] | None = None
) -> Iterator[DevStack]:
    """The service on the backend named by `request.param`: `embedded`, or `postgres+redis` (CI)."""
    database_url = broker_url = None
    if request.param == "postgres+redis":
        if not REDIS_URL:
            pytest.skip("DEEPFEAT_TEST_REDIS_URL not set (CI sets it)")
        database_url, broker_url = request.getfixturevalue("pg_database"), REDIS_URL
    with DevStack(
        tmp_path / "var", ADMIN_KEY, database_url, broker_url, extra_env=extra_env or {}
    ) as running:
        yield running
