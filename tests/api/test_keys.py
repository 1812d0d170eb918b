"""Admins manage their project's keys; a revoked key stops working on the next request."""

from __future__ import annotations

from fastapi.testclient import TestClient


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
