"""Projects: the deployment admin creates them and issues their keys; a project's key sees only it; the
last live admin key of a project cannot be revoked, so nobody locks a deployment out through the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from deepfeat.config import Settings
from tests.helpers.env import ADMIN_KEY
from tests.keys import key_headers


@pytest.fixture
def any_client(any_db_url: str, data_dir: object) -> Iterator[TestClient]:
    """The API on SQLite and on PostgreSQL."""
    from deepfeat.db.migrate import upgrade
    from service.app import create_app

    upgrade(any_db_url)
    settings = Settings(data_dir=data_dir, database_url=any_db_url, bootstrap_key=ADMIN_KEY)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_deployment_admin_creates_a_project_whose_key_sees_only_that_project(
    any_client: TestClient, admin_headers: dict[str, str]
) -> None:
    client = any_client
    created = client.post("/v1/projects", json={"name": "vision"}, headers=admin_headers)
    assert created.status_code == 201, created.text
    project = created.json()
    assert project["name"] == "vision"
    assert client.post("/v1/projects", json={"name": "vision"}, headers=admin_headers).status_code == 409

    key = client.post(f"/v1/projects/{project['id']}/keys", json={"scope": "admin"}, headers=admin_headers)
    assert key.status_code == 201, key.text
    theirs = _bearer(key.json()["key"])
    dataset = client.post("/v1/datasets", json={"builtin": "iris"}, headers=theirs).json()

    # Their dataset is invisible to the default project's admin, and the other way round.
    assert client.get(f"/v1/datasets/{dataset['id']}", headers=admin_headers).status_code == 404
    assert dataset["id"] in [d["id"] for d in client.get("/v1/datasets", headers=theirs).json()["data"]]
    mine = client.post("/v1/datasets", json={"builtin": "iris"}, headers=admin_headers).json()
    assert client.get(f"/v1/datasets/{mine['id']}", headers=theirs).status_code == 404

    # An admin of another project is no deployment admin: it reads its own project, nothing else.
    assert client.post("/v1/projects", json={"name": "x"}, headers=theirs).status_code == 403
    assert client.get("/v1/projects", headers=theirs).status_code == 403
    assert client.get(f"/v1/projects/{project['id']}", headers=theirs).status_code == 200
    default = client.get("/v1/projects/default", headers=admin_headers).json()
    assert client.get(f"/v1/projects/{default['id']}", headers=theirs).status_code == 404
    assert client.post(f"/v1/projects/{default['id']}/keys", json={}, headers=theirs).status_code == 404
    assert client.post(f"/v1/projects/{project['id']}/keys", json={}, headers=theirs).status_code == 403

    assert client.get("/v1/projects/a%00b", headers=admin_headers).status_code == 404  # not a PG error
    names = [p["name"] for p in client.get("/v1/projects", headers=admin_headers).json()["data"]]
    assert names == ["default", "vision"]
    listed = client.get(f"/v1/projects/{project['id']}/keys", headers=admin_headers).json()["data"]
    assert [k["id"] for k in listed] == [key.json()["id"]]
    assert all(k["key"] is None for k in listed)


def test_projects_are_paged_and_names_are_checked(client: TestClient, admin_headers: dict[str, str]) -> None:
    for name in ("p1", "p2", "p3"):
        assert client.post("/v1/projects", json={"name": name}, headers=admin_headers).status_code == 201
    names, after = [], None
    for _ in range(5):
        params = {"limit": 2, **({"after": after} if after else {})}
        page = client.get("/v1/projects", params=params, headers=admin_headers).json()
        assert len(page["data"]) <= 2
        names += [p["name"] for p in page["data"]]
        after = page["next_after"]
        if after is None:
            break
    assert names == ["default", "p1", "p2", "p3"]
    for bad in ("", "has space", "a\x00b", "x" * 201):
        refused = client.post("/v1/projects", json={"name": bad}, headers=admin_headers)
        assert refused.status_code == 422, bad
        assert refused.json()["loc"] == "/name"
    assert client.get("/v1/projects/prj_nope", headers=admin_headers).status_code == 404


def test_write_keys_of_the_default_project_cannot_manage_projects(
    client: TestClient, settings: Settings
) -> None:
    writer = key_headers(settings, "write")
    assert client.post("/v1/projects", json={"name": "x"}, headers=writer).status_code == 403


def test_the_last_live_admin_key_of_a_project_cannot_be_revoked(
    any_client: TestClient, admin_headers: dict[str, str]
) -> None:
    client = any_client
    me = next(
        k for k in client.get("/v1/keys", headers=admin_headers).json()["data"] if k["name"] == "bootstrap"
    )
    refused = client.post(f"/v1/keys/{me['id']}:revoke", headers=admin_headers)
    assert refused.status_code == 409
    assert "last live admin key" in refused.json()["detail"]
    assert "deepfeat admin-key --new" in refused.json()["detail"]
    assert client.get("/v1/runs", headers=admin_headers).status_code == 200  # still in

    # A read key does not count as a way back in; a second admin key does.
    read = client.post("/v1/keys", json={"scope": "read"}, headers=admin_headers).json()
    assert client.post(f"/v1/keys/{me['id']}:revoke", headers=admin_headers).status_code == 409
    second = client.post("/v1/keys", json={"scope": "admin"}, headers=admin_headers).json()
    assert client.post(f"/v1/keys/{me['id']}:revoke", headers=admin_headers).status_code == 200
    assert client.get("/v1/runs", headers=admin_headers).status_code == 401
    theirs = _bearer(second["key"])
    assert client.post(f"/v1/keys/{second['id']}:revoke", headers=theirs).status_code == 409
    assert client.post(f"/v1/keys/{read['id']}:revoke", headers=theirs).status_code == 200


def test_a_project_shows_its_storage_counting_each_blob_once(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    empty = client.post("/v1/projects", json={"name": "empty"}, headers=admin_headers).json()
    usage = client.get(f"/v1/projects/{empty['id']}", headers=admin_headers).json()["usage"]
    assert usage == {"datasets_bytes": 0, "artifacts_bytes": 0, "total_bytes": 0}
    one = client.post("/v1/datasets", json={"builtin": "iris"}, headers=admin_headers).json()
    client.post("/v1/datasets", json={"builtin": "wine"}, headers=admin_headers)
    usage = client.get("/v1/projects/default", headers=admin_headers).json()["usage"]
    datasets = client.get("/v1/datasets", headers=admin_headers).json()["data"]
    assert usage["datasets_bytes"] == sum(d["size_bytes"] for d in datasets) > one["size_bytes"]
    assert usage["total_bytes"] == usage["datasets_bytes"] + usage["artifacts_bytes"]
