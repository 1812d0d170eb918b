"""The test environment: the admin key the tests' servers start with, and the PostgreSQL and Redis CI
provides (`DEEPFEAT_TEST_DATABASE_URL`, `DEEPFEAT_TEST_REDIS_URL`), with markers that skip without them."""

from __future__ import annotations

import os

import pytest
from sqlalchemy.engine import make_url

ADMIN_KEY = "df_test_admin_" + "x" * 30
PG_URL = os.environ.get("DEEPFEAT_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("DEEPFEAT_TEST_REDIS_URL")

requires_pg = pytest.mark.skipif(not PG_URL, reason="DEEPFEAT_TEST_DATABASE_URL not set (CI sets it)")
requires_redis = pytest.mark.skipif(not REDIS_URL, reason="DEEPFEAT_TEST_REDIS_URL not set (CI sets it)")


def admin_conninfo(url: str) -> str:
    """A libpq conninfo for the server of `url` (to create and drop test databases)."""
    u = make_url(url)
    return f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"
