"""Every answer carries the safety headers; oversized JSON bodies are refused before they are parsed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from deepfeat.config import Settings
from service.app import create_app
from tests.helpers.env import ADMIN_KEY


def test_api_answers_are_not_sniffed_or_cached(client: TestClient, admin_headers: dict[str, str]) -> None:
    for response in (
        client.get("/v1/runs", headers=admin_headers),
        client.get("/v1/runs"),
        client.get("/v1/runs/run_x", headers=admin_headers),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
    assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"


def test_cors_is_closed_by_default(client: TestClient) -> None:
    preflight = client.options(
        "/v1/runs", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_a_json_body_over_the_limit_is_413(settings: Settings) -> None:
    small = settings.model_copy(update={"max_json_body_bytes": 2048})
    with TestClient(create_app(small)) as client:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        big = {
            "dataset": "builtin:digits",
            "task": "classification",
            "model": {"type": "mlp"},
            "name": "x" * 4000,
        }
        response = client.post("/v1/runs", json=big, headers=headers)
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"
        assert client.get("/v1/runs", headers=headers).json()["data"] == []
