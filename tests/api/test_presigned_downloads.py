"""Presigned downloads (opt-in, `DEEPFEAT_S3_PRESIGNED_DOWNLOADS`): with an S3 store an artifact download
answers 307 to a short-lived presigned URL on the store (a real `moto_server`), which a real HTTP
client follows to the same bytes and sha256; off by default, and the file backend is never affected."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from deepfeat.client import Client
from deepfeat.config import Settings
from deepfeat.db.migrate import upgrade
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.storage.backends import open_store
from service.app import create_app
from tests.helpers.db import succeed_with_model
from tests.helpers.env import ADMIN_KEY
from tests.s3server import free_port

SPEC = {
    "dataset": "builtin:iris",
    "task": "classification",
    "model": {"type": "mlp", "hidden": [8]},
    "training": {"epochs": 1},
}
WEIGHTS = bytes(range(256)) * 4096  # 1 MiB, not all alike


def s3_settings(data_dir: Path, s3_url: str, s3_endpoint: str, presigned: bool) -> Settings:
    settings = Settings(
        data_dir=data_dir,
        bootstrap_key=ADMIN_KEY,
        artifact_url=s3_url,
        s3_endpoint_url=s3_endpoint,
        s3_presigned_downloads=presigned,
        s3_presigned_expiry_s=60,
    )
    upgrade(settings.resolved_database_url)
    return settings


def finished_run(client: TestClient, settings: Settings, content: bytes) -> tuple[str, str]:
    """A run that succeeded with `content` as its model, stored the way a worker stores it."""
    run_id: str = client.post("/v1/runs", json=SPEC).json()["id"]
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        _, blob = succeed_with_model(session, open_store(settings), run_id, content)
        session.commit()
    engine.dispose()
    return run_id, blob.sha256


@pytest.fixture
def presigning(data_dir: Path, s3_url: str, s3_endpoint: str) -> Iterator[tuple[TestClient, Settings]]:
    settings = s3_settings(data_dir, s3_url, s3_endpoint, presigned=True)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        yield client, settings


def test_a_download_redirects_to_a_presigned_url_that_serves_the_same_bytes(
    presigning: tuple[TestClient, Settings], s3_endpoint: str
) -> None:
    client, settings = presigning
    run_id, sha = finished_run(client, settings, WEIGHTS)
    answer = client.get(f"/v1/runs/{run_id}/artifacts/model.safetensors")
    assert answer.status_code == 307
    assert answer.content == b""  # no byte went through the API
    assert answer.headers["X-Content-SHA256"] == sha
    location = answer.headers["location"]
    assert location.startswith(f"{s3_endpoint}/")
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Expires"] == ["60"]  # the setting's expiry, signed into the URL

    fetched = httpx.get(location, timeout=30)  # a real HTTP request to the store, without our key
    assert fetched.status_code == 200
    assert fetched.content == WEIGHTS
    assert hashlib.sha256(fetched.content).hexdigest() == sha
    assert "model.safetensors" in fetched.headers["content-disposition"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]  # SigV4: what AWS and MinIO accept


def test_the_python_client_follows_the_redirect_and_checks_the_sha256(
    presigning: tuple[TestClient, Settings], tmp_path: Path
) -> None:
    client, settings = presigning
    run_id, sha = finished_run(client, settings, WEIGHTS)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.05)
        with Client(f"http://127.0.0.1:{port}", ADMIN_KEY) as df:
            path = df.download(run_id, "model.safetensors", tmp_path)
        assert path.read_bytes() == WEIGHTS
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    finally:
        server.should_exit = True
        thread.join(10)


def test_off_by_default_the_api_streams_the_object_itself(
    data_dir: Path, s3_url: str, s3_endpoint: str
) -> None:
    settings = s3_settings(data_dir, s3_url, s3_endpoint, presigned=False)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        run_id, sha = finished_run(client, settings, WEIGHTS)
        answer = client.get(f"/v1/runs/{run_id}/artifacts/model.safetensors")
    assert answer.status_code == 200
    assert answer.content == WEIGHTS
    assert answer.headers["X-Content-SHA256"] == sha


def test_the_file_backend_sends_its_files_whatever_the_setting(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, bootstrap_key=ADMIN_KEY, s3_presigned_downloads=True)
    upgrade(settings.resolved_database_url)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        run_id, sha = finished_run(client, settings, WEIGHTS)
        answer = client.get(f"/v1/runs/{run_id}/artifacts/model.safetensors")
    assert answer.status_code == 200
    assert answer.content == WEIGHTS
    assert answer.headers["X-Content-SHA256"] == sha
