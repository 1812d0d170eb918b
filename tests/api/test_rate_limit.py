"""Per-key rate limit: 429 with Retry-After past the window, per key, in memory and shared via Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deepfeat.config import Settings
from deepfeat.db.migrate import upgrade
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.services.auth import create_key, ensure_project
from tests.helpers.env import ADMIN_KEY, REDIS_URL, requires_redis

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def limited_settings(data_dir: Path, storage: str | None = None) -> Settings:
    settings = Settings(
        data_dir=data_dir,
        bootstrap_key=ADMIN_KEY,
        # A burst of 3 per 6 s window: wide enough that a slow first request (a loaded CI machine) does
        # not let the window slide past the burst before the request that must be refused.
        rate_limit_per_second=0.5,
        rate_limit_burst=3,
        rate_limit_storage_url=storage,
    )
    upgrade(settings.resolved_database_url)
    return settings


def new_key(settings: Settings) -> dict[str, str]:
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        raw = create_key(session, ensure_project(session), "read")
        session.commit()
    engine.dispose()
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def clients(data_dir: Path, request: pytest.FixtureRequest) -> Iterator[list[TestClient]]:
    """Two API processes' worth of apps on one data dir and one limit store."""
    from service.app import create_app

    storage = getattr(request, "param", None)
    settings = limited_settings(data_dir, storage)
    with ExitStack() as stack:
        yield [stack.enter_context(TestClient(create_app(settings))) for _ in range(2)]


def assert_limited(response_status: int, body: dict[str, object], retry_after: str | None) -> None:
    assert response_status == 429, body
    assert body["error"] == "rate_limited"
    assert "retry in" in str(body["detail"])
    assert retry_after is not None
    assert 1 <= int(retry_after) <= 6
    assert body["retry_after_s"] == int(retry_after)


def test_a_key_past_its_burst_gets_429_with_retry_after(clients: list[TestClient]) -> None:
    client = clients[0]
    for _ in range(3):
        assert client.get("/v1/datasets", headers=ADMIN).status_code == 200
    refused = client.get("/v1/datasets", headers=ADMIN)
    assert_limited(refused.status_code, refused.json(), refused.headers.get("retry-after"))
    # The embedding routes authenticate on their own fast path; they count against the same key.
    embed = client.post("/v1/embeddings", json={"model": "minilm-l6", "input": "x"}, headers=ADMIN)
    assert embed.status_code == 429
    # ... in OpenAI's envelope there, and both say a retry will help (the SDKs read x-should-retry)
    assert embed.json()["error"]["code"] == "rate_limit_exceeded"
    assert embed.headers["x-should-retry"] == refused.headers["x-should-retry"] == "true"
    assert int(embed.headers["retry-after"]) >= 1
    # Health checks need no key and are never limited.
    assert client.get("/healthz").status_code == 200


def test_keys_are_limited_separately_and_wrong_keys_are_not_counted(
    clients: list[TestClient], data_dir: Path
) -> None:
    client = clients[0]
    settings = Settings(data_dir=data_dir)
    other = new_key(settings)
    for _ in range(5):
        assert client.get("/v1/datasets", headers={"Authorization": "Bearer df_wrong"}).status_code == 401
    for _ in range(3):
        assert client.get("/v1/datasets", headers=ADMIN).status_code == 200
    assert client.get("/v1/datasets", headers=ADMIN).status_code == 429
    assert client.get("/v1/datasets", headers=other).status_code == 200


def test_memory_limits_are_per_process(clients: list[TestClient]) -> None:
    first, second = clients
    for _ in range(3):
        assert first.get("/v1/datasets", headers=ADMIN).status_code == 200
    assert first.get("/v1/datasets", headers=ADMIN).status_code == 429
    assert second.get("/v1/datasets", headers=ADMIN).status_code == 200


@requires_redis
@pytest.mark.parametrize("clients", [REDIS_URL], indirect=True)
def test_redis_limits_are_shared_by_every_api_process(clients: list[TestClient], data_dir: Path) -> None:
    first, second = clients
    key = new_key(Settings(data_dir=data_dir))  # a fresh key id: nothing left in Redis from other runs
    for _ in range(2):
        assert first.get("/v1/datasets", headers=key).status_code == 200
    assert second.get("/v1/datasets", headers=key).status_code == 200
    refused = second.get("/v1/datasets", headers=key)
    assert_limited(refused.status_code, refused.json(), refused.headers.get("retry-after"))
    assert first.get("/v1/datasets", headers=key).status_code == 429


def test_the_limit_is_off_by_default_and_follows_a_redis_broker(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.rate_limit_per_second == 0
    assert settings.resolved_rate_limit_storage_url == "memory://"
    shared = Settings(data_dir=tmp_path, broker_url="redis://queue:6379/0")
    assert shared.resolved_rate_limit_storage_url == "redis://queue:6379/0"
    explicit = Settings(data_dir=tmp_path, broker_url="redis://q/0", rate_limit_storage_url="memory://")
    assert explicit.resolved_rate_limit_storage_url == "memory://"
