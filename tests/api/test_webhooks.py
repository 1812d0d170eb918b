"""/v1/webhooks in-process: admin only, loopback refused unless the deployment allows it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from deepfeat.config import Settings
from tests.helpers.api import trained_run
from tests.helpers.specs import DIGITS_MLP, SWEEP
from tests.keys import key_headers


def test_loopback_is_refused_by_default(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["run.failed"]},
        headers=admin_headers,
    )
    assert response.status_code == 422, response.text
    assert "loopback" in response.json()["detail"]


def test_unknown_event_is_422(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post(
        "/v1/webhooks", json={"url": "http://example.com/", "events": ["run.exploded"]}, headers=admin_headers
    )
    assert response.status_code == 422
    assert response.json()["loc"].startswith("/events/0")


def test_a_write_key_cannot_manage_webhooks(client: TestClient, settings: Settings) -> None:
    headers = key_headers(settings, "write")
    assert client.get("/v1/webhooks", headers=headers).status_code == 403


def _log(client: TestClient, headers: dict[str, str], hook_id: str) -> list[dict[str, object]]:
    response = client.get(f"/v1/webhooks/{hook_id}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    body: list[dict[str, object]] = response.json()
    return body


def test_ending_a_sweep_and_a_run_queues_deliveries(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    events = ["sweep.completed", "run.cancelled"]
    hook = client.post(
        "/v1/webhooks", json={"url": "http://10.0.0.1/hook", "events": events}, headers=admin_headers
    )
    assert hook.status_code == 201, hook.text
    other = client.post(
        "/v1/webhooks",
        json={"url": "http://10.0.0.2/hook", "events": ["run.succeeded"]},
        headers=admin_headers,
    ).json()
    sweep = client.post("/v1/sweeps", json=SWEEP, headers=admin_headers).json()
    assert _log(client, admin_headers, hook.json()["id"]) == []  # nothing has ended yet
    client.post(f"/v1/sweeps/{sweep['id']}/cancel", headers=admin_headers)
    log = _log(client, admin_headers, hook.json()["id"])
    assert sorted(str(d["event"]) for d in log) == ["run.cancelled", "run.cancelled", "sweep.completed"]
    assert all(d["status"] == "pending" and d["attempts"] == 0 for d in log)
    completed = next(d for d in log if d["event"] == "sweep.completed")
    assert completed["payload"]["data"]["status"] == "cancelled"  # type: ignore[index]
    assert completed["payload"]["data"]["sweep_id"] == sweep["id"]  # type: ignore[index]
    assert _log(client, admin_headers, other["id"]) == []  # not subscribed to these


def test_every_alias_move_queues_a_delivery_registration_alias_and_archive(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    hook = client.post(
        "/v1/webhooks",
        json={"url": "http://10.0.0.1/hook", "events": ["encoder.alias_moved"]},
        headers=admin_headers,
    ).json()
    run_id = trained_run(client, admin_headers, settings, DIGITS_MLP)
    for _ in range(2):  # digits@1, then digits@2: `latest` moves each time
        registered = client.post(
            "/v1/encoders", json={"run_id": run_id, "name": "digits"}, headers=admin_headers
        )
        assert registered.status_code == 201, registered.text
    moved = client.post(
        "/v1/encoders/digits/aliases", json={"alias": "prod", "version": 1}, headers=admin_headers
    )
    assert moved.status_code < 300, moved.text
    archived = client.post("/v1/encoders/digits@2:archive", headers=admin_headers)
    assert archived.status_code == 200, archived.text  # `latest` falls back to digits@1
    log = _log(client, admin_headers, hook["id"])
    moves = [(d["payload"]["data"]["alias"], d["payload"]["data"]["version"]) for d in log]  # type: ignore[index]
    assert sorted(moves) == [("latest", 1), ("latest", 1), ("latest", 2), ("prod", 1)]
