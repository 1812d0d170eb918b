"""`training.world_size` at `:validate` and submit: refused (422 at /training/world_size, saying what
the live workers have) unless a live worker on the run's queue has that many cores or GPUs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from deepfeat.config import Settings
from deepfeat.db.repositories.workers import WorkerBeat, WorkerRepository
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.db.types import utcnow
from tests.helpers.specs import MLP_SPEC


def with_world(world_size: int, **training: Any) -> dict[str, Any]:
    return {**MLP_SPEC, "training": {**MLP_SPEC["training"], "world_size": world_size, **training}}


def beat(settings: Settings, name: str, queues: list[str], cores: int, gpus: int, ago_s: float = 0) -> None:
    device = "cuda" if gpus else "cpu"
    heartbeat = WorkerBeat(
        name, "host", 7, device, "x", queues, 1, [f"host:{name}"], cpu_cores=cores, gpus=gpus
    )
    with make_session_factory(make_engine(settings.resolved_database_url))() as session:
        WorkerRepository(session).beat(heartbeat, now=utcnow() - timedelta(seconds=ago_s))
        session.commit()


def test_world_size_over_1_without_a_live_worker_is_refused_at_its_pointer(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    for path in ("/v1/runs:validate", "/v1/runs"):
        response = client.post(path, json=with_world(2), headers=admin_headers)
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["loc"] == "/training/world_size"
        assert "live workers on that queue: none" in body["detail"]
    assert client.get("/v1/runs", headers=admin_headers).json()["data"] == []  # nothing half-submitted


def test_a_worker_with_enough_cores_serves_it_and_the_refusal_names_what_workers_have(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    beat(settings, "small@host", ["cpu"], cores=2, gpus=0)
    beat(settings, "dead@host", ["cpu"], cores=64, gpus=0, ago_s=3600)  # not live: does not count
    ok = client.post("/v1/runs:validate", json=with_world(2, batch_size=63), headers=admin_headers)
    assert ok.status_code == 200, ok.text  # 63 does not divide by 2: shards of 32 and 31, still fine
    refused = client.post("/v1/runs:validate", json=with_world(4), headers=admin_headers)
    assert refused.status_code == 422
    assert refused.json()["loc"] == "/training/world_size"
    assert "small@host (2 CPU cores)" in refused.json()["detail"]
    assert "dead@host" not in refused.json()["detail"]
    assert client.post("/v1/runs", json=with_world(2), headers=admin_headers).status_code == 202


def test_gpu_world_sizes_count_gpus_on_the_gpu_queue(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    beat(settings, "one-gpu@host", ["cpu", "gpu"], cores=16, gpus=1)
    spec = with_world(2, device="gpu")
    refused = client.post("/v1/runs:validate", json=spec, headers=admin_headers)
    assert refused.status_code == 422
    assert "`gpu` queue with 2 GPUs" in refused.json()["detail"]
    assert "one-gpu@host (1 GPUs)" in refused.json()["detail"]
    beat(settings, "two-gpu@host", ["gpu"], cores=16, gpus=2)
    assert client.post("/v1/runs:validate", json=spec, headers=admin_headers).status_code == 200


def test_world_size_1_needs_no_live_worker_and_out_of_range_is_a_spec_error(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    assert client.post("/v1/runs:validate", json=with_world(1), headers=admin_headers).status_code == 200
    response = client.post("/v1/runs:validate", json=with_world(0), headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["loc"] == "/training/world_size"


def test_device_auto_goes_to_the_gpu_queue_only_while_a_live_gpu_worker_takes_it(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    auto = {**MLP_SPEC, "training": {**MLP_SPEC["training"], "device": "auto"}}
    first = client.post("/v1/runs", json=auto, headers=admin_headers)
    assert first.status_code == 202, first.text
    assert first.json()["device"] == "cpu"  # no GPU worker: a gpu-queued run would wait for ever
    beat(settings, "gpu@host", ["gpu"], cores=8, gpus=2)
    second = client.post("/v1/runs", json=auto, headers=admin_headers)
    assert second.json()["device"] == "gpu"
    cpu_only = {**MLP_SPEC, "training": {**MLP_SPEC["training"], "device": "cpu"}}
    assert client.post("/v1/runs", json=cpu_only, headers=admin_headers).json()["device"] == "cpu"
