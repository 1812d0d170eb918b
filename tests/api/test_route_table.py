"""Access rules for every route, taken from the app's own route table (routes added later are covered
without touching this file, except to tell it how to fill a new path parameter or body).

For every operation that needs a key: no key → 401 (pages: a redirect to sign-in), a revoked key → 401,
a read-scope key on a writing method → 403, and an admin of another project with this project's ids in
every path parameter → 404 with nothing changed in the database or the data dir.

Embedding routes cache a key's lookup for `AUTH_TTL_S` (service/embedding.py): a key revoked
*after* use keeps working there that long. The revoked key here is revoked before its first use.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from deepfeat.config import Settings
from deepfeat.db.migrate import upgrade
from deepfeat.db.models import Base
from deepfeat.db.session import make_engine
from tests.helpers.env import ADMIN_KEY
from tests.helpers.route_table import (
    READ_POSTS,
    WRITING,
    bearer,
    build_world,
    call,
    error_type,
    fill,
    make_key,
    protected,
    sign_in,
)
from tests.helpers.specs import MLP_SPEC


def snapshot(settings: Settings) -> dict[str, Any]:
    """Every row of every table, and every file of the data dir but the database and broker files."""
    engine = make_engine(settings.resolved_database_url)
    rows: dict[str, Any] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows[table.name] = sorted(repr(tuple(r)) for r in conn.execute(select(table)))
    engine.dispose()
    files = {}
    for path in sorted(settings.data_dir.rglob("*")):
        if path.is_file() and not re.match(r"(deepfeat|broker)\.db", path.name):
            files[str(path.relative_to(settings.data_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"rows": rows, "files": files}


@pytest.fixture
def app_settings(any_db_url: str, data_dir: Path) -> Settings:
    settings = Settings(data_dir=data_dir, database_url=any_db_url, bootstrap_key=ADMIN_KEY)
    upgrade(settings.resolved_database_url)
    return settings


@pytest.fixture
def app(app_settings: Settings) -> Iterator[FastAPI]:
    from service.app import create_app

    application = create_app(app_settings)
    with TestClient(application):  # runs the lifespan once; other clients share its state
        yield application


def test_every_route_is_guarded(app: FastAPI, app_settings: Settings) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    world = build_world(client, app_settings)
    ops = protected(app)
    assert len([op for op in ops if not op.page]) >= 20
    assert len([op for op in ops if op.page]) >= 8
    paths = {op.path: fill(op, world) for op in ops}  # fails first if a parameter cannot be filled
    _, revoked = make_key(app_settings, None, "admin", revoked=True)
    _, reader = make_key(app_settings, None, "read")
    before = snapshot(app_settings)

    # A browser that signs in with a key that is then revoked is signed out.
    revoked_browser, revoked_csrf = sign_in(app, make_key(app_settings, None, "admin")[1])
    revoke_later = client.get("/v1/keys", headers=bearer(ADMIN_KEY)).json()["data"][-1]["id"]
    assert client.post(f"/v1/keys/{revoke_later}:revoke", headers=bearer(ADMIN_KEY)).status_code == 200
    before = snapshot(app_settings)
    read_browser, read_csrf = sign_in(app, reader)

    problems: list[str] = []
    for op in ops:
        path = paths[op.path]
        if op.page:
            expected_out = (303, "/signin?next=")
            for who, response in (
                ("no session", call(TestClient(app, raise_server_exceptions=False), op, path)),
                ("revoked key", call(revoked_browser, op, path, csrf=revoked_csrf)),
            ):
                if response.status_code != 303 or not response.headers.get("location", "").startswith(
                    expected_out[1]
                ):
                    problems.append(
                        f"{op.method} {op.path} with {who}: {response.status_code} {response.text[:200]}"
                    )
            if op.method in WRITING and op.path not in READ_POSTS:
                response = call(read_browser, op, path, csrf=read_csrf)
                if response.status_code != 403:
                    problems.append(f"{op.method} {op.path} with a read key: {response.status_code}")
            continue
        for who, headers in (("no key", {}), ("revoked key", bearer(revoked))):
            response = call(client, op, path, headers)
            if response.status_code != 401 or error_type(response) != "unauthorized":
                problems.append(
                    f"{op.method} {op.path} with {who}: {response.status_code} {response.text[:200]}"
                )
        if (op.method in WRITING and op.path not in READ_POSTS) or op.path.startswith("/v1/keys"):
            response = call(client, op, path, bearer(reader))
            if response.status_code != 403 or error_type(response) != "forbidden":
                problems.append(
                    f"{op.method} {op.path} with a read key: {response.status_code} {response.text[:200]}"
                )
    assert not problems, "\n".join(problems)
    assert snapshot(app_settings) == before


def test_another_project_sees_none_of_these_ids(app: FastAPI, app_settings: Settings) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    world = build_world(client, app_settings)
    _, attacker = make_key(app_settings, "attacker", "admin")
    browser, csrf = sign_in(app, attacker)
    with_params = [op for op in protected(app) if op.params]
    assert len(with_params) >= 15
    problems: list[str] = []
    for op in with_params:
        path = fill(op, world)
        before = snapshot(app_settings)
        response = call(browser, op, path, csrf=csrf) if op.page else call(client, op, path, bearer(attacker))
        if response.status_code == 422:
            problems.append(
                f"{op.method} {op.path}: 422 before the id was checked ({response.text[:200]}); add a "
                "valid body to BODIES in tests/api/test_route_table.py"
            )
        elif response.status_code != 404:
            problems.append(
                f"{op.method} {op.path} as another project: {response.status_code} {response.text[:200]}"
            )
        if snapshot(app_settings) != before:
            problems.append(f"{op.method} {op.path} as another project changed something")
    assert not problems, "\n".join(problems)
    # The victim's own admin reaches the same objects (the ids are real, the 404s were about tenancy).
    assert client.get(f"/v1/runs/{world.done_run_id}", headers=bearer(ADMIN_KEY)).status_code == 200
    assert client.get(f"/v1/datasets/{world.dataset_id}", headers=bearer(ADMIN_KEY)).status_code == 200


def test_ids_in_bodies_and_queries_are_scoped_too(app: FastAPI, app_settings: Settings) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    world = build_world(client, app_settings)
    _, raw = make_key(app_settings, "attacker", "admin")
    attacker = bearer(raw)
    before = snapshot(app_settings)
    register = client.post(
        "/v1/encoders", json={"run_id": world.done_run_id, "name": "stolen"}, headers=attacker
    )
    assert register.status_code == 404, register.text
    submit = client.post("/v1/runs", json={**MLP_SPEC, "dataset": world.dataset_id}, headers=attacker)
    assert submit.status_code == 422, submit.text
    assert submit.json()["loc"] == "/dataset"
    for after in (world.done_run_id, world.queued_run_id):
        listed = client.get("/v1/runs", params={"after": after}, headers=attacker).json()["data"]
        assert listed == []
    embed = client.post(
        "/v1/embeddings", json={"model": "victim-enc", "input": [[0.0] * 64]}, headers=attacker
    )
    assert embed.status_code in (404, 422), embed.text
    assert snapshot(app_settings) == before
