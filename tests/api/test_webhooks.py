"""/v1/webhooks in-process: admin only, loopback refused unless the deployment allows it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from deepfeat.config import Settings
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
