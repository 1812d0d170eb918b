"""The operator's way back in: `deepfeat admin-key --new` through the database, and a revoked key kept in
`admin.key` replaced when the server starts again instead of locking the CLI out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from deepfeat.cli import app
from deepfeat.cli.admin import live_admin_key
from deepfeat.config import Settings, get_settings
from deepfeat.db.migrate import upgrade
from deepfeat.db.models import ApiKey
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.db.types import utcnow

runner = CliRunner()


@pytest.fixture
def host(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A data dir as `deepfeat up` leaves it (no DEEPFEAT_BOOTSTRAP_KEY: the key lives in admin.key)."""
    monkeypatch.setenv("DEEPFEAT_DATA_DIR", str(data_dir))
    monkeypatch.delenv("DEEPFEAT_BOOTSTRAP_KEY", raising=False)
    get_settings.cache_clear()
    settings = Settings(data_dir=data_dir)
    upgrade(settings.resolved_database_url)
    yield settings
    get_settings.cache_clear()


def _api(settings: Settings, key: str) -> TestClient:
    """The API as `up` starts it: the kept key is its bootstrap key."""
    from service.app import create_app

    return TestClient(create_app(Settings(data_dir=settings.data_dir, bootstrap_key=key)))


def _revoke_every_key(settings: Settings) -> None:
    """What the fuzzer did before revoking the last admin key was refused: nobody can call the API."""
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        session.execute(update(ApiKey).values(revoked_at=utcnow()))
        session.commit()
    engine.dispose()


def test_admin_key_new_lets_the_operator_back_in_after_every_key_was_revoked(host: Settings) -> None:
    first = runner.invoke(app, ["admin-key"])
    assert first.exit_code == 0, first.output
    kept = first.stdout.strip()
    with _api(host, kept) as client:
        assert client.get("/v1/runs", headers={"Authorization": f"Bearer {kept}"}).status_code == 200
    _revoke_every_key(host)

    shown = runner.invoke(app, ["admin-key"])
    assert shown.exit_code == 1
    assert "revoked" in shown.stderr
    fresh = runner.invoke(app, ["admin-key", "--new"])
    assert fresh.exit_code == 0, fresh.output
    new_key = fresh.stdout.strip()
    assert new_key != kept
    assert host.admin_key_file.read_text().strip() == new_key
    assert host.admin_key_file.stat().st_mode & 0o777 == 0o600
    with _api(host, new_key) as client:
        headers = {"Authorization": f"Bearer {new_key}"}
        assert client.get("/v1/runs", headers=headers).status_code == 200
        assert client.post("/v1/projects", json={"name": "back"}, headers=headers).status_code == 201


def test_a_revoked_key_in_admin_key_is_replaced_at_restart_and_stays_revoked(host: Settings) -> None:
    kept = live_admin_key(host)
    with _api(host, kept) as client:
        headers = {"Authorization": f"Bearer {kept}"}
        other = client.post("/v1/keys", json={"scope": "admin"}, headers=headers).json()
        mine = next(
            k for k in client.get("/v1/keys", headers=headers).json()["data"] if k["name"] == "bootstrap"
        )
        other_headers = {"Authorization": f"Bearer {other['key']}"}
        assert client.post(f"/v1/keys/{mine['id']}:revoke", headers=other_headers).status_code == 200

    restarted = live_admin_key(host)  # what `deepfeat up` does before starting the API again
    assert restarted != kept
    assert host.admin_key_file.read_text().strip() == restarted
    with _api(host, restarted) as client:
        assert client.get("/v1/runs", headers={"Authorization": f"Bearer {restarted}"}).status_code == 200
        assert client.get("/v1/runs", headers={"Authorization": f"Bearer {kept}"}).status_code == 401
    assert live_admin_key(host) == restarted  # a live key is kept as it is


def test_a_revoked_bootstrap_key_from_the_environment_is_reported_not_replaced(host: Settings) -> None:
    key = "df_env_" + "e" * 30
    settings = Settings(data_dir=host.data_dir, bootstrap_key=key)
    with _api(host, key):
        pass
    _revoke_every_key(host)
    assert live_admin_key(settings) == key
    assert not host.admin_key_file.exists()
