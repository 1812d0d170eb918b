"""Many machines, no shared disk: two API processes and two workers, each with its own data dir, that
share only PostgreSQL, Redis and an S3 server (`moto_server`). One stack for the whole module; the tests
run in order (the first kills a worker)."""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import numpy as np
import psycopg
import pytest
from sqlalchemy.engine import make_url

from deepfeat.devstack import DevStack
from tests.helpers.env import ADMIN_KEY, PG_URL, REDIS_URL, admin_conninfo
from tests.helpers.waiting import FAST_RECOVERY, metric_epochs, wait_for, wait_until
from tests.s3server import CREDENTIALS

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not (PG_URL and REDIS_URL), reason="needs PostgreSQL and Redis (CI sets both)"),
]

MODEL: dict[str, Any] = {"type": "mlp", "hidden": [1024, 1024]}
TRAINING: dict[str, Any] = {"epochs": 8, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.01}}


class Hosts:
    def __init__(self, a: DevStack, b: DevStack, c: DevStack, bucket: str, endpoint: str) -> None:
        self.a, self.b, self.c, self.bucket, self.endpoint = a, b, c, bucket, endpoint

    def client(self, stack: DevStack, key: str = ADMIN_KEY) -> httpx.Client:
        return httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


@pytest.fixture(scope="module")
def hosts(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    """Host A: API + worker; host B: API only; host C: a worker started when A's dies."""
    assert PG_URL
    assert REDIS_URL
    name = f"deepfeat_{secrets.token_hex(6)}"
    with psycopg.connect(admin_conninfo(PG_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    bucket = f"hosts-{secrets.token_hex(6)}"
    boto3.client("s3", endpoint_url=s3_endpoint, **_boto_credentials()).create_bucket(Bucket=bucket)
    env = {
        **FAST_RECOVERY,
        "DEEPFEAT_LEASE_SECONDS": "30",  # S3 round trips on a busy shared machine: a lease that outlives them
        **CREDENTIALS,
        "DEEPFEAT_ARTIFACT_URL": f"s3://{bucket}/deepfeat",
        "DEEPFEAT_S3_ENDPOINT_URL": s3_endpoint,
    }
    root = tmp_path_factory.mktemp("hosts")
    a = DevStack(root / "a", ADMIN_KEY, database_url, REDIS_URL, extra_env=env)
    b = DevStack(root / "b", ADMIN_KEY, database_url, REDIS_URL, worker=False, extra_env=env)
    c = DevStack(root / "c", ADMIN_KEY, database_url, REDIS_URL, extra_env=env)
    try:
        with a, b:
            c.data_dir.mkdir(parents=True)
            try:
                yield Hosts(a, b, c, bucket, s3_endpoint)
            finally:
                c.stop()
    finally:
        with psycopg.connect(admin_conninfo(PG_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def _npz(rows: int = 3000, features: int = 32) -> bytes:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, features)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + 2 * (X[:, 2] > 0)
    buffer = io.BytesIO()
    np.savez(buffer, X=X, y=y)
    return buffer.getvalue()


def test_a_run_killed_on_one_host_resumes_on_another_and_serves_through_a_third(hosts: Hosts) -> None:
    with hosts.client(hosts.a) as a, hosts.client(hosts.b) as b:
        uploaded = a.post("/v1/datasets", files={"file": ("blobs.npz", _npz())}, data={"name": "blobs"})
        assert uploaded.status_code == 201, uploaded.text
        spec = {
            "dataset": uploaded.json()["id"],
            "task": "classification",
            "model": MODEL,
            "training": TRAINING,
        }
        run_id = a.post("/v1/runs", json=spec).json()["id"]
        at_kill = wait_until(a, run_id, lambda r: r["progress"].get("epoch", 0) >= 2, 180)["progress"][
            "epoch"
        ]
        hosts.a.kill_worker()
        hosts.c.start_worker()  # another machine: its own data dir and cache, the checkpoint in S3
        run = wait_for(b, run_id, timeout_s=240)
        assert run["status"] == "succeeded", run["error"]
        assert run["attempt"] == 2
        receipt = b.get(f"/v1/runs/{run_id}/artifacts/receipt.json").json()
        assert receipt["resumed_from_epoch"] >= at_kill - 1  # at most one epoch redone
        assert metric_epochs(b, run_id) == list(range(1, TRAINING["epochs"] + 1))

        weights = b.get(f"/v1/runs/{run_id}/artifacts/model.safetensors")  # streamed from the store
        assert weights.status_code == 200
        assert hashlib.sha256(weights.content).hexdigest() == weights.headers["x-content-sha256"]

        assert b.post("/v1/encoders", json={"run_id": run_id, "name": "blobs"}).status_code == 201
        embedded = b.post("/v1/encoders/blobs/embed", json={"inputs": [[0.0] * 32, [1.0] * 32]})
        assert embedded.status_code == 200, embedded.text
        assert len(embedded.json()["embeddings"]) == 2


def test_a_cancel_sent_to_one_api_stops_a_run_on_another_hosts_worker(hosts: Hosts) -> None:
    with hosts.client(hosts.a) as a, hosts.client(hosts.b) as b:
        spec = {
            "dataset": "blobs",
            "task": "classification",
            "model": MODEL,
            "training": {**TRAINING, "epochs": 200},
        }
        run_id = a.post("/v1/runs", json=spec).json()["id"]
        wait_until(a, run_id, lambda r: r["status"] == "running" and r["progress"].get("step", 0) > 0, 120)
        assert b.post(f"/v1/runs/{run_id}/cancel").status_code in (200, 202)
        run = wait_for(a, run_id, timeout_s=60)
        assert run["status"] == "cancelled"
        assert run["progress"]["epoch"] < 200


def test_a_key_revoked_on_one_api_is_refused_by_the_other_at_once(hosts: Hosts) -> None:
    with hosts.client(hosts.a) as a:
        key = a.post("/v1/keys", json={"scope": "read"}).json()
        with hosts.client(hosts.b, key["key"]) as b:
            request = {"inputs": [[0.0] * 32]}
            assert b.post("/v1/encoders/blobs/embed", json=request).status_code == 200  # cached on B now
            assert a.post(f"/v1/keys/{key['id']}:revoke").status_code == 200
            refused = b.post("/v1/encoders/blobs/embed", json=request)
            assert refused.status_code == 401, refused.text


def test_no_host_kept_an_artifact_in_its_data_dir(hosts: Hosts) -> None:
    """Everything lives in the bucket; each data dir holds only logs and that host's own cache."""
    for stack in (hosts.a, hosts.b, hosts.c):
        files = [p.relative_to(stack.data_dir) for p in stack.data_dir.rglob("*") if p.is_file()]
        shared = [p for p in files if p.parts[0] not in ("cache",) and p.suffix != ".log"]
        assert shared == [], (stack.data_dir, shared)
    listed = boto3.client("s3", endpoint_url=hosts.endpoint, **_boto_credentials()).list_objects_v2(
        Bucket=hosts.bucket
    )
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert any(k.startswith("deepfeat/blobs/") for k in keys)
    assert not any(k.startswith("deepfeat/checkpoints/") for k in keys)  # cleared when runs ended
