"""Path traversal: every id or name that could reach the file system, in every path parameter of every
route (from the route table), with `../`, encoded, double-encoded, backslashes, absolute paths and
`file://` answers 404/422 and reads nothing outside the artifact store.

Ids and names are looked up in the database first and files are opened only by the store key recorded
there (`ArtifactStore.path` refuses keys resolving outside `blobs/`), so no request text becomes a path.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from deepfeat.config import Settings
from deepfeat.errors import NotFound
from deepfeat.storage.local import FileStore
from tests.helpers.api import csrf_of
from tests.helpers.env import ADMIN_KEY
from tests.helpers.route_table import BODIES, World, build_world, fill, protected

SECRET = "deepfeat-traversal-sentinel-7f3a"


def payloads(outside: Path, blob_key: str) -> list[str]:
    """Raw path-parameter texts (already as they go on the wire)."""
    absolute = str(outside)
    return [  # a bare `..` segment is normalised away by HTTP clients: test_literal_dot_segments sends it raw
        "%2e%2e",
        "..%2f..%2fsecret.txt",
        "..%2F..%2F..%2F..%2Fsecret.txt",
        "%2e%2e%2f%2e%2e%2fsecret.txt",
        "%252e%252e%252f%252e%252e%252fsecret.txt",  # double-encoded
        "..%5c..%5csecret.txt",  # backslashes
        "....%2f%2f....%2f%2fsecret.txt",
        quote(absolute, safe=""),  # an absolute path
        "%2fetc%2fpasswd",
        quote(f"file://{absolute}", safe=""),
        "file:%2f%2f%2fetc%2fpasswd",
        quote(blob_key, safe=""),  # a store key is not an artifact name
        quote(f"{blob_key}/../../../secret.txt", safe=""),
        "%00",
    ]


@pytest.fixture
def world(client: TestClient, settings: Settings, tmp_path: Path) -> World:
    (tmp_path / "secret.txt").write_text(SECRET)  # beside the data dir
    (settings.data_dir / "secret.txt").write_text(SECRET)  # in the data dir, outside the store
    (settings.artifacts_dir / "secret.txt").write_text(SECRET)  # in the store, outside blobs/
    return build_world(client, settings)


def leaked(text: str) -> bool:
    return SECRET in text or "root:x:0:0" in text


def admin_browser(app: FastAPI) -> tuple[TestClient, str]:
    browser = TestClient(app, raise_server_exceptions=False)
    form = browser.get("/signin")
    browser.post("/signin", data={"key": ADMIN_KEY, "csrf": csrf_of(form.text), "next": "/"})
    return browser, csrf_of(browser.get("/workers").text)


def test_traversal_in_every_path_parameter_is_404_or_422(
    client: TestClient, settings: Settings, world: World, tmp_path: Path
) -> None:
    app: FastAPI = client.app  # type: ignore[assignment]
    api = TestClient(app, raise_server_exceptions=False)
    browser, csrf = admin_browser(app)
    blob_key = FileStore(settings.artifacts_dir).put_bytes(SECRET.encode()).key  # a real blob
    ops = [op for op in protected(app) if op.params]
    problems: list[str] = []
    checked = 0
    for op in ops:
        for param in op.params:
            for payload in payloads(tmp_path / "secret.txt", blob_key):
                path = fill(op, world).replace(fill_one(op, param, world), payload, 1)
                kwargs: dict[str, Any] = dict(BODIES.get((op.method, op.path), {}))
                if op.page:
                    if op.method != "GET":
                        kwargs = {"data": {"csrf": csrf}}
                    response = browser.request(op.method, path, follow_redirects=False, **kwargs)
                else:
                    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
                    response = api.request(op.method, path, headers=headers, **kwargs)
                checked += 1
                if response.status_code not in (404, 422) or leaked(response.text):
                    problems.append(f"{op.method} {path}: {response.status_code} {response.text[:160]}")
    assert checked > 200
    assert not problems, "\n".join(problems)


def fill_one(op: Any, param: str, world: World) -> str:
    """The value `fill` put in `param` (so it can be swapped for a payload)."""
    single = type(op)(op.method, op.path, (param,))
    template = op.path
    filled = fill(single, world)
    prefix = template.split("{" + param + "}")[0]
    rest = filled[len(prefix) :]
    suffix = template.split("{" + param + "}")[1]
    return rest[: len(rest) - len(suffix)] if suffix else rest


def raw_get(app: FastAPI, raw_path: str, headers: dict[str, str]) -> tuple[int, str]:
    """GET with the path exactly as given (HTTP clients normalise `../` away; a raw socket would not)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }
    status = 0
    body = b""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return status, body.decode(errors="replace")


def test_literal_dot_segments_reach_no_file(client: TestClient, settings: Settings, world: World) -> None:
    app: FastAPI = client.app  # type: ignore[assignment]
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    run = world.done_run_id
    for raw in (
        f"/v1/runs/{run}/artifacts/../../../../secret.txt",
        f"/v1/runs/{run}/artifacts/../../../../../../../etc/passwd",
        f"/v1/runs/{run}/artifacts/model.safetensors/../../secret.txt",
        f"/v1/runs/{run}/artifacts//etc/passwd",
        f"/v1/runs/{run}/artifacts/..\\..\\secret.txt",
        "/v1/runs/../datasets/../../secret.txt",
        "/v1/datasets/..",
        f"/runs/{run}/artifacts/../../../secret.txt",
        "/static/../../../secret.txt",
        "/static/..%2f..%2fsecret.txt",
        "/static/%2e%2e/%2e%2e/secret.txt",
    ):
        status, body = raw_get(app, raw, headers)
        assert status in (303, 404, 422), (raw, status, body[:200])  # 303: a page asking to sign in
        assert not leaked(body), raw


def test_the_store_refuses_keys_outside_its_blobs(settings: Settings) -> None:
    store = FileStore(settings.artifacts_dir)
    (settings.artifacts_dir / "secret.txt").write_text(SECRET)
    for key in (
        "../secret.txt",
        "secret.txt",
        "blobs/../secret.txt",
        "/etc/passwd",
        "blobs/../../deepfeat.db",
    ):
        with pytest.raises(NotFound):
            store.path(key)


def test_names_in_bodies_never_become_paths(
    client: TestClient, admin_headers: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    before = set(tmp_path.rglob("*"))
    for name in ("../../../escape", "/tmp/escape", "..\\..\\escape", "file:///tmp/escape"):
        response = client.post(
            "/v1/datasets",
            data={"name": name},
            files={"file": ("../../../../escape.csv", b"a,label\n1,x\n2,y\n3,x\n4,y\n", "text/csv")},
            headers=admin_headers,
        )
        assert response.status_code in (201, 200, 422), response.text
        builtin = client.post("/v1/datasets", json={"builtin": name}, headers=admin_headers)
        assert builtin.status_code in (404, 422), builtin.text
    created = set(tmp_path.rglob("*")) - before
    outside = [p for p in created if not p.is_relative_to(settings.artifacts_dir)]
    assert [p for p in outside if p.is_file() and "escape" in p.name] == []
    assert not (tmp_path.parent / "escape.csv").exists()
