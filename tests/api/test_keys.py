"""Admins manage their project's keys; a revoked key stops working on the next request."""

from __future__ import annotations

from fastapi.testclient import TestClient

from deepfeat.config import Settings


def test_create_list_use_and_revoke_a_key(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = client.post("/v1/keys", json={"name": "ci", "scope": "read"}, headers=admin_headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["key"].startswith("df_")
    assert body["key"].startswith(body["prefix"])
    headers = {"Authorization": f"Bearer {body['key']}"}
    assert client.get("/v1/runs", headers=headers).status_code == 200

    listed = client.get("/v1/keys", headers=admin_headers).json()["data"]
    assert body["id"] in [k["id"] for k in listed]
    assert all(k["key"] is None for k in listed)  # the secret is never shown again

    assert client.get("/v1/keys", headers=headers).status_code == 403  # read scope is not admin
    revoked = client.post(f"/v1/keys/{body['id']}:revoke", headers=admin_headers).json()
    assert revoked["revoked_at"] is not None
    assert client.get("/v1/runs", headers=headers).status_code == 401
    assert client.post("/v1/keys/key_nope:revoke", headers=admin_headers).status_code == 404
    assert client.post("/v1/keys", json={"scope": "root"}, headers=admin_headers).status_code == 422


def test_a_revoked_key_stops_at_once_on_the_cached_embedding_routes_of_every_api_process(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    """The embedding routes cache key lookups (they are the hot path); two apps on one data dir stand
    for two API processes, each with its own cache, and both must refuse the key on its next use."""
    from service.app import create_app

    key = client.post("/v1/keys", json={"scope": "read"}, headers=admin_headers).json()
    headers = {"Authorization": f"Bearer {key['key']}"}
    request = {"input": "hello", "model": "minilm-l6"}
    with TestClient(create_app(settings)) as other_process:
        for app in (client, other_process):
            assert app.post("/v1/embeddings", json=request, headers=headers).status_code == 200  # cached now
        assert client.post(f"/v1/keys/{key['id']}:revoke", headers=admin_headers).status_code == 200
        for app in (client, other_process):
            refused = app.post("/v1/embeddings", json=request, headers=headers)
            assert refused.status_code == 401, refused.text
        # other keys' cached lookups are only re-read, not refused
        assert other_process.post("/v1/embeddings", json=request, headers=admin_headers).status_code == 200
