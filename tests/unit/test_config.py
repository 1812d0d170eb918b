from __future__ import annotations

import os
from pathlib import Path

import pytest

from deepfeat.config import Settings


def test_embedded_defaults_live_in_the_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'deepfeat.db'}"
    assert s.resolved_broker_url == f"sqla+sqlite:///{tmp_path / 'broker.db'}"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEEPFEAT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DEEPFEAT_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("DEEPFEAT_BROKER_URL", "redis://h:6379/0")
    monkeypatch.setenv("DEEPFEAT_BOOTSTRAP_KEY", "df_k")
    s = Settings()
    assert s.data_dir == tmp_path.resolve()
    assert s.resolved_database_url == "postgresql+psycopg://u@h/db"
    assert s.resolved_broker_url == "redis://h:6379/0"
    assert s.bootstrap_key is not None
    assert s.bootstrap_key.get_secret_value() == "df_k"
    assert "df_k" not in repr(s)


def test_read_threads_follow_the_cores_and_the_database(tmp_path: Path) -> None:
    """SQLite answers in-process (threads past the cores only contend for the GIL); a database server
    leaves threads waiting on the network; a value given wins."""
    cores = len(os.sched_getaffinity(0))
    assert Settings(data_dir=tmp_path).resolved_api_read_threads == cores
    server = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://u@h/db")
    assert server.resolved_api_read_threads == 4 * cores
    assert Settings(data_dir=tmp_path, api_read_threads=3).resolved_api_read_threads == 3
