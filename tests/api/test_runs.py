"""/v1/runs in-process: submission, validation errors with JSON pointers, listing, cancel."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers.specs import MLP_SPEC


def test_submit_queues_the_run_and_show_returns_it(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post("/v1/runs", json=MLP_SPEC, headers=admin_headers)
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["status"] == "queued"
    assert run["id"].startswith("run_")
    assert run["name"] == "digits-mlp"
    assert run["spec"]["model"]["hidden"] == [64, 32]
    assert len(run["dataset_sha256"]) == 64
    shown = client.get(f"/v1/runs/{run['id']}", headers=admin_headers).json()
    assert shown["id"] == run["id"]
    assert client.get(f"/v1/runs/{run['id']}/metrics", headers=admin_headers).json() == []
    events = client.get(f"/v1/runs/{run['id']}/events", headers=admin_headers).json()
    assert [e["message"] for e in events] == ["queued"]


def test_unknown_run_is_404(client: TestClient, admin_headers: dict[str, str]) -> None:
    for path in ("/v1/runs/run_nope", "/v1/runs/run_nope/metrics", "/v1/runs/run_nope/events"):
        response = client.get(path, headers=admin_headers)
        assert response.status_code == 404
        assert "run_nope" in response.json()["detail"]
    assert client.post("/v1/runs/run_nope/cancel", headers=admin_headers).status_code == 404


@pytest.mark.parametrize(
    ("patch", "loc", "words"),
    [
        ({"model": {"type": "mlp", "hidden": [64, 0]}}, "/model/hidden/1", "greater than or equal to 1"),
        ({"model": {"type": "mlp", "activation": "swish"}}, "/model/activation", "relu"),
        ({"model": {"type": "resnet"}}, "/model/type", "mlp"),
        ({"model": {"type": "mlp", "hiden": [3]}}, "/model/hiden", "Extra inputs"),
        ({"task": "clustering"}, "/task", "classification"),
        ({"training": {"epochs": 0}}, "/training/epochs", "greater than or equal to 1"),
        ({"training": {"optimizer": {"name": "sgd", "lr": -1}}}, "/training/optimizer/lr", "greater than 0"),
        ({"dataset": None}, "/dataset", "string"),
        ({"training": {"epochs": 100_000}}, "/training/epochs", "limit"),
        ({"dataset": "builtin:nope"}, "/dataset", "no built-in"),
        ({"dataset": "ds_missing"}, "/dataset", "not found"),
        ({"task": "regression"}, "/task", "numeric target"),
        (
            {"training": {"early_stopping": {"metric": "val_auc"}}},
            "/training/early_stopping/metric",
            "val_loss",
        ),
    ],
)
def test_a_bad_spec_is_a_422_naming_the_field(
    client: TestClient, admin_headers: dict[str, str], patch: dict[str, Any], loc: str, words: str
) -> None:
    spec = {**MLP_SPEC, **patch}
    for path in ("/v1/runs", "/v1/runs:validate"):
        response = client.post(path, json=spec, headers=admin_headers)
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["loc"] == loc
        assert words in body["detail"]
        assert body["detail"].startswith(loc)
    assert client.get("/v1/runs", headers=admin_headers).json()["data"] == []  # nothing was queued


def test_a_missing_field_and_a_non_object_body(client: TestClient, admin_headers: dict[str, str]) -> None:
    spec = {k: v for k, v in MLP_SPEC.items() if k != "task"}
    body = client.post("/v1/runs", json=spec, headers=admin_headers).json()
    assert body["loc"] == "/task"
    assert "required" in body["detail"].lower()
    not_json = client.post(
        "/v1/runs", content=b"{oops", headers={**admin_headers, "content-type": "application/json"}
    )
    assert not_json.status_code == 422
    assert client.post("/v1/runs", json=[1, 2], headers=admin_headers).status_code == 422


def test_validate_reports_cost_without_queueing(client: TestClient, admin_headers: dict[str, str]) -> None:
    report = client.post("/v1/runs:validate", json=MLP_SPEC, headers=admin_headers).json()
    # 64 inputs → 64 → 32 → 10 classes
    assert report["params"] == (64 * 64 + 64) + (64 * 32 + 32) + (32 * 10 + 10)
    assert report["trainable_params"] == report["params"]
    assert report["flops"] == 2 * (64 * 64 + 64 * 32 + 32 * 10)
    assert report["input_shape"] == [1, 8, 8]
    assert report["output_shape"] == [10]
    assert report["memory_estimate"] > 4 * report["params"]
    assert client.get("/v1/runs", headers=admin_headers).json()["data"] == []
    assert client.get("/v1/datasets", headers=admin_headers).json()["data"] == []  # nor registered digits


def test_idempotency_key_returns_the_first_run(client: TestClient, admin_headers: dict[str, str]) -> None:
    headers = {**admin_headers, "Idempotency-Key": "abc-1"}
    first = client.post("/v1/runs", json=MLP_SPEC, headers=headers)
    again = client.post("/v1/runs", json=MLP_SPEC, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["id"] == again.json()["id"]
    changed = client.post("/v1/runs", json={**MLP_SPEC, "name": "other"}, headers=headers)
    assert changed.status_code == 409
    assert len(client.get("/v1/runs", headers=admin_headers).json()["data"]) == 1


def test_list_pages_newest_first_and_filters_by_status(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    ids = [client.post("/v1/runs", json=MLP_SPEC, headers=admin_headers).json()["id"] for _ in range(5)]
    client.post(f"/v1/runs/{ids[0]}/cancel", headers=admin_headers)
    first = client.get("/v1/runs?limit=2", headers=admin_headers).json()
    assert [r["id"] for r in first["data"]] == ids[::-1][:2]
    second = client.get(f"/v1/runs?limit=2&after={first['next_after']}", headers=admin_headers).json()
    assert [r["id"] for r in second["data"]] == ids[::-1][2:4]
    cancelled = client.get("/v1/runs?status=cancelled", headers=admin_headers).json()["data"]
    assert [r["id"] for r in cancelled] == [ids[0]]
    assert client.get("/v1/runs?status=bogus", headers=admin_headers).status_code == 422
    assert client.get("/v1/runs?limit=0", headers=admin_headers).status_code == 422


def test_cancel_a_queued_run_ends_it_and_a_second_cancel_conflicts(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    run_id = client.post("/v1/runs", json=MLP_SPEC, headers=admin_headers).json()["id"]
    cancelled = client.post(f"/v1/runs/{run_id}/cancel", headers=admin_headers).json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["finished_at"] is not None
    again = client.post(f"/v1/runs/{run_id}/cancel", headers=admin_headers)
    assert again.status_code == 409
