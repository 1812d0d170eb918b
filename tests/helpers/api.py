"""Driving the in-process API as the tests do: a run trained by the real runner, datasets, extractions,
signing in to the dashboard."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from deepfeat.config import Settings
from deepfeat.data.builtins import load_builtin
from tests import datafiles
from tests.helpers.env import ADMIN_KEY
from workers.runner import execute_run


def trained_run(client: TestClient, headers: dict[str, str], settings: Settings, spec: dict[str, Any]) -> str:
    response = client.post("/v1/runs", json=spec, headers=headers)
    assert response.status_code == 202, response.text
    run_id: str = response.json()["id"]
    execute_run(run_id, settings, lambda *_: None)  # what a worker does with the message
    run = client.get(f"/v1/runs/{run_id}", headers=headers).json()
    assert run["status"] == "succeeded", run["error"]
    return run_id


def digits(n: int) -> tuple[list[list[float]], list[int]]:
    data = load_builtin("digits")
    rng = np.random.default_rng(1)
    rows = rng.choice(len(data.y), n, replace=False)
    return data.X[rows].tolist(), data.y[rows].tolist()


def submit(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/v1/extractions", json=body, headers=headers)


def text_dataset(client: TestClient, headers: dict[str, str], n: int = 12) -> str:
    response = client.post(
        "/v1/datasets",
        files={"file": ("notes.jsonl", datafiles.jsonl_bytes(n), "application/octet-stream")},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    dataset_id: str = response.json()["id"]
    return dataset_id


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(client: TestClient, key: str = ADMIN_KEY) -> str:
    """Sign in as a browser would; returns the CSRF token of the signed-in pages."""
    form = client.get("/signin?next=/datasets")
    response = client.post(
        "/signin", data={"key": key, "csrf": csrf_of(form.text), "next": "/datasets"}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/datasets"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert key not in cookie
    return csrf_of(client.get("/").text)


class Marker:
    """Unpickling this creates the file at `path` (as `open(path, "w")`): proof that code ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))
