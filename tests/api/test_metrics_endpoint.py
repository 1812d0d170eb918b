"""`GET /metrics` (Prometheus text) and the request id every response carries."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from deepfeat.logs import JsonFormatter
from service.observability import observe_embedding_batch
from tests.helpers.specs import MLP_SPEC


def scrape(client: TestClient) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def test_runs_by_status_queue_depth_and_latency_by_route(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    ids = [client.post("/v1/runs", json=MLP_SPEC, headers=admin_headers).json()["id"] for _ in range(3)]
    client.post(f"/v1/runs/{ids[0]}/cancel", headers=admin_headers)
    client.get(f"/v1/runs/{ids[1]}", headers=admin_headers)
    client.get("/no/such/page")
    observe_embedding_batch(16)
    samples = scrape(client)
    runs = samples["deepfeat_runs"]
    assert runs[(("status", "queued"),)] == 2
    assert runs[(("status", "cancelled"),)] == 1
    assert runs[(("status", "succeeded"),)] == 0
    assert samples["deepfeat_queue_depth"][(("queue", "cpu"),)] == 2
    assert samples["deepfeat_live_workers"][()] == 0
    latency = samples["deepfeat_http_request_duration_seconds_count"]
    by_route = {dict(labels)["route"]: n for labels, n in latency.items()}
    assert by_route["/v1/runs/{run_id}"] >= 1  # the template, never the id
    assert by_route["/v1/runs/{run_id}/cancel"] >= 1
    assert by_route["unmatched"] >= 1
    assert not any(ids[1] in route for route in by_route)
    assert samples["deepfeat_embedding_batch_size_count"][()] >= 1


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    made = client.get("/healthz").headers["x-request-id"]
    assert len(made) == 16
    odd = client.get("/healthz", headers={"X-Request-ID": "no spaces\tor tabs"}).headers["x-request-id"]
    assert odd != "no spaces\tor tabs"


def test_access_log_is_json_with_request_and_run_id(
    client: TestClient, admin_headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    run_id = client.post("/v1/runs", json=MLP_SPEC, headers=admin_headers).json()["id"]
    with caplog.at_level(logging.INFO, logger="deepfeat.access"):
        client.get(f"/v1/runs/{run_id}", headers={**admin_headers, "X-Request-ID": "req-42"})
    record = next(r for r in caplog.records if r.name == "deepfeat.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-42"
    assert line["run_id"] == run_id
    assert line["route"] == "/v1/runs/{run_id}"
    assert line["status"] == 200
    assert line["level"] == "info"
