"""Every route of the app and a world of objects to call them on (ids of two projects, keys of each
scope), for the guard and traversal tests."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from deepfeat.config import Settings
from deepfeat.db.models import Artifact, Encoder, EncoderAlias, Extraction
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.ids import new_id
from deepfeat.services.auth import issue_key
from deepfeat.storage.local import FileStore
from tests.helpers.api import csrf_of
from tests.helpers.db import succeed_with_model
from tests.helpers.env import ADMIN_KEY
from tests.helpers.specs import MLP_SPEC

WRITING = {"POST", "PUT", "PATCH", "DELETE"}


VICTIM_SWEEP = {
    "base": MLP_SPEC,
    "method": "random",
    "metric": {"name": "val_accuracy", "goal": "maximize"},
    "parameters": {"training.optimizer.lr": {"values": [0.01]}},
    "run_cap": 1,
}


# Open to anyone, with the reason. Anything else must refuse a request without a key.
PUBLIC = {
    ("GET", "/healthz"): "liveness",
    ("GET", "/readyz"): "readiness",
    ("GET", "/metrics"): "aggregate counts only (operations.md)",
    ("GET", "/openapi.json"): "the published schema",
    ("GET", "/docs"): "the schema's viewer",
    ("GET", "/docs/oauth2-redirect"): "part of the viewer",
    ("GET", "/redoc"): "the schema's viewer",
    ("GET", "/signin"): "the dashboard's sign-in form",
    ("POST", "/signin"): "exchanges a key for a session (CSRF-checked)",
    ("GET", "/health"): "TEI's liveness probe",
}


# text-embeddings-inference's routes: outside /v1, but API routes with a bearer key, not pages.
TEI_OPS = {("POST", "/embed"), ("POST", "/"), ("GET", "/info")}


# Writing methods a read-scope key may call: they compute an answer and change nothing.
READ_POSTS = {
    "/v1/runs:validate",
    "/v1/runs/{run_id}/predict",
    "/v1/runs/{run_id}/score",
    "/v1/runs/{run_id}/samples",
    "/v1/encoders/{name}/embed",
    "/v1/embeddings",
    "/embed",
    "/",  # POST / is TEI's embed (GET / is the dashboard)
    "/signout",  # ends the browser's own session: any signed-in key may
}


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # the template, e.g. /v1/runs/{run_id}/artifacts/{name}
    params: tuple[str, ...]

    @property
    def page(self) -> bool:
        """Dashboard pages sign in by cookie; everything under /v1 by bearer key."""
        return not self.path.startswith("/v1") and (self.method, self.path) not in TEI_OPS


@dataclass
class World:
    """Objects of the victim project (the bootstrap admin's), which the attacker project must not reach."""

    dataset_id: str
    queued_run_id: str
    done_run_id: str
    encoder_name: str
    key_id: str
    extraction_id: str
    sweep_id: str = ""
    webhook_id: str = ""
    project_id: str = ""


# How to fill each path parameter with a victim object: first by (path, name), then by name alone.
# A new route whose parameter is in neither must get an entry here (the test says so).
FILL_BY_ROUTE: dict[tuple[str, str], Callable[[World], str]] = {
    ("/v1/runs/{run_id}/cancel", "run_id"): lambda w: w.queued_run_id,
    ("/runs/{run_id}/cancel", "run_id"): lambda w: w.queued_run_id,
    ("/v1/runs/{run_id}/artifacts/{name}", "name"): lambda w: "model.safetensors",
    ("/runs/{run_id}/artifacts/{name}", "name"): lambda w: "model.safetensors",
    ("/v1/encoders/{name}/aliases", "name"): lambda w: w.encoder_name,
    ("/v1/encoders/{name}/embed", "name"): lambda w: w.encoder_name,
    ("/v1/encoders/{ref}/export", "ref"): lambda w: f"{w.encoder_name}@1",
    ("/v1/encoders/{ref}:archive", "ref"): lambda w: f"{w.encoder_name}@1",
    ("/v1/encoders/{ref}", "ref"): lambda w: f"{w.encoder_name}@1",
    ("/v1/models/{model}", "model"): lambda w: w.encoder_name,
    ("/v1/extractions/{extraction_id}/artifacts/{name}", "name"): lambda w: "embeddings.npy",
}


FILL: dict[str, Callable[[World], str]] = {
    "run_id": lambda w: w.done_run_id,
    "dataset_id": lambda w: w.dataset_id,
    "key_id": lambda w: w.key_id,
    "extraction_id": lambda w: w.extraction_id,
    "sweep_id": lambda w: w.sweep_id,
    "webhook_id": lambda w: w.webhook_id,
    "project": lambda w: w.project_id,
}


# Valid bodies, so that a 404 is about the id and not a 422 about the body.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/runs/{run_id}/predict"): {"json": {"inputs": [[0.0] * 64]}},
    ("POST", "/v1/runs/{run_id}/score"): {"json": {"inputs": [[0.0] * 64]}},
    ("POST", "/v1/runs/{run_id}/samples"): {"json": {"n": 1}},
    ("POST", "/v1/encoders/{name}/aliases"): {"json": {"alias": "prod", "version": 1}},
    ("POST", "/v1/encoders/{name}/embed"): {"json": {"inputs": [[0.0] * 64]}},
    ("POST", "/v1/projects/{project}/keys"): {"json": {"scope": "admin"}},
    ("PATCH", "/v1/runs/{run_id}"): {"json": {"tags": ["stolen"]}},
    ("POST", "/embed"): {"json": {"inputs": "x"}},
    ("POST", "/"): {"json": {"inputs": "x"}},
}


def operations(app: FastAPI) -> list[Op]:
    ops = []
    for context in iter_route_contexts(app.routes):  # routers included into the app, flattened
        route = context.original_route
        if isinstance(route, Mount) and route.path in ("/static", "/docs-assets"):
            continue  # the dashboard's CSS and JS; Swagger UI's and ReDoc's
        if not isinstance(route, (APIRoute, Route)) or context.path_format is None:
            pytest.fail(f"unknown kind of route {route!r}: teach tests/api/test_route_table.py about it")
        path = context.path_format
        for method in sorted((context.methods or set()) - {"HEAD"}):
            ops.append(Op(method, path, tuple(re.findall(r"\{(\w+)\}", path))))
    return ops


def protected(app: FastAPI) -> list[Op]:
    return [op for op in operations(app) if (op.method, op.path) not in PUBLIC]


def fill(op: Op, world: World) -> str:
    path = op.path
    for name in op.params:
        filler = FILL_BY_ROUTE.get((op.path, name)) or FILL.get(name)
        if filler is None:
            pytest.fail(
                f"{op.method} {op.path}: no way to fill path parameter {{{name}}}. Add an entry to FILL or "
                "FILL_BY_ROUTE in tests/api/test_route_table.py that returns the id of an object of the "
                "victim project (create it in `world`), so cross-project access to this route is tested."
            )
        path = path.replace("{" + name + "}", filler(world))
    return path


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def make_key(settings: Settings, project: str | None, scope: str, revoked: bool = False) -> tuple[str, str]:
    """(key id, raw key) in `project` (None: the victim's, i.e. the bootstrap key's project)."""
    from deepfeat.services.auth import ensure_project, revoke_key

    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        project_row = ensure_project(session, project) if project else ensure_project(session)
        key, raw = issue_key(session, project_row.id, scope)
        if revoked:
            from deepfeat.services.auth import Principal

            revoke_key(session, Principal(project_row.id, key.id, "admin"), key.id, settings)
        session.commit()
    engine.dispose()
    return key.id, raw


def build_world(client: TestClient, settings: Settings) -> World:
    admin = bearer(ADMIN_KEY)
    dataset = client.post("/v1/datasets", json={"builtin": "digits"}, headers=admin)
    assert dataset.status_code in (200, 201), dataset.text
    queued = client.post("/v1/runs", json=MLP_SPEC, headers=admin).json()["id"]
    done = client.post("/v1/runs", json={**MLP_SPEC, "name": "done"}, headers=admin).json()["id"]
    store = FileStore(settings.artifacts_dir)
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        run, _ = succeed_with_model(session, store, done, b"victim weights")
        encoder = Encoder(
            id=new_id("enc"),
            project_id=run.project_id,
            name="victim-enc",
            version=1,
            run_id=done,
            modality="numeric",
            dim=32,
        )
        session.add(encoder)
        session.flush()
        session.add(
            EncoderAlias(project_id=run.project_id, name="victim-enc", alias="latest", encoder_id=encoder.id)
        )
        extraction = Extraction(
            id=new_id("ext"),
            project_id=run.project_id,
            encoder="victim-enc@1",
            encoder_id=encoder.id,
            dataset_id=run.dataset_id,
            dataset_sha256=run.dataset_sha256,
            options={},
            status="queued",
            progress={},
        )
        session.add(extraction)
        session.flush()
        extracted = store.put_bytes(b"victim embeddings")
        session.add(
            Artifact(
                id=new_id("art"),
                project_id=run.project_id,
                extraction_id=extraction.id,
                name="embeddings.npy",
                media_type="application/octet-stream",
                path=extracted.key,
                sha256=extracted.sha256,
                size_bytes=extracted.size_bytes,
            )
        )
        session.commit()
    engine.dispose()
    key_id, _ = make_key(settings, None, "read")
    sweep = client.post("/v1/sweeps", json=VICTIM_SWEEP, headers=admin)
    assert sweep.status_code == 202, sweep.text
    hook = client.post(
        "/v1/webhooks", json={"url": "http://10.0.0.1/hook", "events": ["run.failed"]}, headers=admin
    )
    assert hook.status_code == 201, hook.text
    world = World(
        dataset.json()["id"], queued, done, "victim-enc", key_id, extraction.id, project_id=run.project_id
    )
    world.sweep_id, world.webhook_id = sweep.json()["id"], hook.json()["id"]
    return world


def sign_in(app: FastAPI, raw: str) -> tuple[TestClient, str]:
    """A browser signed in with `raw`: its client (cookies) and the CSRF token of its forms."""
    browser = TestClient(app, raise_server_exceptions=False)
    form = browser.get("/signin")
    done = browser.post(
        "/signin", data={"key": raw, "csrf": csrf_of(form.text), "next": "/"}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    return browser, csrf_of(browser.get("/workers").text)


def call(
    client: TestClient, op: Op, path: str, headers: dict[str, str] | None = None, csrf: str | None = None
) -> Any:
    kwargs: dict[str, Any] = dict(BODIES.get((op.method, op.path), {}))
    if op.page and op.method in WRITING:
        kwargs = {"data": {"csrf": csrf or ""}}
    return client.request(op.method, path, headers=headers or {}, follow_redirects=False, **kwargs)


def error_type(response: Any) -> Any:
    """deepfeat's `error`; on the OpenAI routes `error.code`, on the TEI ones `error_type`."""
    body = response.json()
    if isinstance(body.get("error"), dict):
        return {"invalid_api_key": "unauthorized"}.get(body["error"]["code"], body["error"]["code"])
    return body.get("error_type", body.get("error"))
