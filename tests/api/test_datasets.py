from __future__ import annotations

from fastapi.testclient import TestClient


def test_builtin_registration_is_idempotent_and_described(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    first = client.post("/v1/datasets", json={"builtin": "digits"}, headers=admin_headers)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["n_rows"], body["builtin"], len(body["sha256"])) == (1797, "digits", 64)
    assert body["schema"]["input_shape"] == [1, 8, 8]
    assert len(body["schema"]["classes"]) == 10
    again = client.post("/v1/datasets", json={"builtin": "digits"}, headers=admin_headers).json()
    assert again["id"] == body["id"]
    assert client.get(f"/v1/datasets/{body['id']}", headers=admin_headers).json()["sha256"] == body["sha256"]
    listed = client.get("/v1/datasets", headers=admin_headers).json()
    assert [d["id"] for d in listed["data"]] == [body["id"]]


def test_unknown_builtin_and_dataset_are_404(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post("/v1/datasets", json={"builtin": "imagenet"}, headers=admin_headers)
    assert response.status_code == 404
    assert "digits" in response.json()["detail"]  # lists what is known
    assert client.get("/v1/datasets/ds_nope", headers=admin_headers).status_code == 404
    bad = client.post("/v1/datasets", json={"builtin": ""}, headers=admin_headers)
    assert bad.status_code == 422
    assert bad.json()["loc"] == "/builtin"
