"""Faults of the object store: bytes that no longer match their sha256, and a store that is down or
answers 5xx (retried with backoff, then a clear failure; nothing half-written is recorded)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient

from deepfeat.config import Settings
from deepfeat.data.arrays import read_manifest
from deepfeat.db.migrate import upgrade
from deepfeat.db.models import Dataset
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.storage.backends import open_store
from service.app import create_app
from tests.helpers.env import ADMIN_KEY
from tests.s3server import CREDENTIALS, start_moto, stop
from workers.runner import execute_run

SPEC: dict[str, Any] = {
    "dataset": "builtin:iris",
    "task": "classification",
    "model": {"type": "mlp", "hidden": [8]},
    "training": {"epochs": 2},
}


def test_a_dataset_whose_bytes_changed_fails_the_run_as_artifact_corrupt(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    run = client.post("/v1/runs", json=SPEC, headers=admin_headers).json()
    dataset = client.get("/v1/datasets", headers=admin_headers).json()["data"][0]
    store = open_store(settings)

    with make_session_factory(make_engine(settings.resolved_database_url))() as session:
        manifest_key = session.get_one(Dataset, dataset["id"]).blob_key
    x_key = read_manifest(store, manifest_key)["arrays"]["X"]["key"]
    path = store.path(x_key)
    path.write_bytes(path.read_bytes()[:-4] + b"\x00\x00\x80\x7f")  # one float swapped behind our back
    execute_run(run["id"], settings, lambda *_: None)
    failed = client.get(f"/v1/runs/{run['id']}", headers=admin_headers).json()
    assert failed["status"] == "failed"
    assert failed["error"].startswith("artifact_corrupt:")
    assert client.get(f"/v1/runs/{run['id']}/artifacts", headers=admin_headers).json() == []


class _Failing(BaseHTTPRequestHandler):
    """An S3 endpoint that is up but broken: every request answers 503."""

    hits = 0

    def _fail(self) -> None:
        type(self).hits += 1
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _fail

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def failing_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Failing.hits = 0
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_store_answering_5xx_is_retried_then_fails_leaving_nothing(
    tmp_path: Path, failing_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    settings = Settings(
        data_dir=tmp_path, artifact_url="s3://bucket/p", s3_endpoint_url=failing_endpoint, s3_max_attempts=3
    )
    store = open_store(settings)
    with pytest.raises(ClientError, match="503"):
        store.put_bytes(b"weights")
    # Retried (3 tries of the existence check, with backoff between) before the error reaches us.
    assert _Failing.hits >= 3
    assert list(store.tmp_dir.iterdir()) == []


def test_the_store_going_down_mid_run_fails_the_attempt_with_the_reason_and_records_nothing(
    tmp_path: Path, any_db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real training run on S3 (its own moto_server): the server is stopped once the run has trained
    an epoch, so the next checkpoint upload meets a closed port. botocore retries it with backoff
    (`s3_max_attempts`), then the attempt fails saying what happened; no artifact row is written and
    nothing is left in the worker's staging folder."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    process, endpoint = start_moto(tmp_path / "moto.log")
    try:
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="outage")
        upgrade(any_db_url)
        settings = Settings(
            data_dir=data_dir,
            database_url=any_db_url,
            bootstrap_key=ADMIN_KEY,
            artifact_url="s3://outage/deepfeat",
            s3_endpoint_url=endpoint,
            s3_max_attempts=2,
        )
        spec = {**SPEC, "dataset": "builtin:digits", "training": {"epochs": 1000}}
        with TestClient(create_app(settings)) as client:
            client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
            submitted = client.post("/v1/runs", json=spec)
            assert submitted.status_code == 202, submitted.text
            run_id = submitted.json()["id"]
            worker = threading.Thread(target=execute_run, args=(run_id, settings, lambda *_: None))
            worker.start()
            deadline = time.monotonic() + 120
            while not client.get(f"/v1/runs/{run_id}/metrics").json() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.get(f"/v1/runs/{run_id}").json()["status"] == "running"
            stop(process)  # the store is down from here on
            worker.join(120)
            assert not worker.is_alive()
            run = client.get(f"/v1/runs/{run_id}").json()
            assert run["status"] == "failed"
            assert "127.0.0.1" in run["error"] or "connect" in run["error"].lower(), run["error"]
            assert client.get(f"/v1/runs/{run_id}/artifacts").json() == []
        leftovers = [p for p in open_store(settings).tmp_dir.rglob("*") if p.is_file()]
        assert leftovers == []
    finally:
        stop(process)
