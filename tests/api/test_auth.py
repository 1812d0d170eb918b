"""Every /v1 route needs a valid key; health checks do not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deepfeat.config import Settings
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.services.auth import create_key, ensure_project
from tests.helpers.route_table import error_type


def _v1_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every /v1 operation the app serves, from its own route table (as published in its OpenAPI)."""
    routes = []
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if path.startswith("/v1"):
            concrete = re.sub(r"\{[^}]+\}", "x_0", path)
            routes += [(method.upper(), concrete) for method in operations]
    return routes


@pytest.mark.parametrize("auth", [None, "Bearer df_wrong", "Basic abc", "Bearer "])
def test_every_v1_route_refuses_a_missing_or_wrong_key(client: TestClient, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    routes = _v1_routes(client)
    assert len(routes) >= 10
    for method, path in routes:
        response = client.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert error_type(response) == "unauthorized"  # OpenAI's envelope on its routes
        assert response.headers["www-authenticate"] == "Bearer"


def test_health_needs_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_read_key_cannot_write_and_projects_do_not_see_each_other(
    client: TestClient, settings: Settings, admin_headers: dict[str, str]
) -> None:
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        reader = create_key(session, ensure_project(session), "read")
        other = create_key(session, ensure_project(session, "other"), "admin")
        session.commit()
    engine.dispose()
    read_headers = {"Authorization": f"Bearer {reader}"}
    refused = client.post("/v1/datasets", json={"builtin": "iris"}, headers=read_headers)
    assert refused.status_code == 403
    assert "scope" in refused.json()["detail"]

    dataset = client.post("/v1/datasets", json={"builtin": "iris"}, headers=admin_headers).json()
    assert client.get(f"/v1/datasets/{dataset['id']}", headers=read_headers).status_code == 200
    other_headers = {"Authorization": f"Bearer {other}"}
    assert client.get(f"/v1/datasets/{dataset['id']}", headers=other_headers).status_code == 404
    assert client.get("/v1/datasets", headers=other_headers).json()["data"] == []


def test_readiness_does_not_tell_strangers_why(client: TestClient, settings: Settings) -> None:
    """A broken database answers 503 "down", without the exception's text (paths, SQL, hosts)."""
    database = Path(settings.resolved_database_url.removeprefix("sqlite:///"))
    client.app.state.deepfeat.engine.dispose()  # type: ignore[attr-defined]  # no connection keeps old pages
    for journal in database.parent.glob(database.name + "-*"):
        journal.unlink()
    database.write_bytes(b"not a database" * 512)  # a corrupt file: SQLite's error says so
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["retry-after"] == "5"
    assert ready.json()["checks"]["database"].startswith("down")
    for leak in ("not a database", "malformed", str(database), "SELECT", "sqlite"):
        assert leak not in ready.text, leak
