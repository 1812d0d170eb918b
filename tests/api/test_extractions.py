"""Extraction jobs over HTTP: refused up front with a `loc`, run as a worker would, rows equal to
`/embed`, listed, cancelled, tenancy, and the reaper settling a job whose worker died."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from deepfeat.config import Settings
from deepfeat.db.models import Extraction
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.db.types import utcnow
from deepfeat.services.auth import create_key, ensure_project
from tests.helpers.api import submit, text_dataset, trained_run
from tests.helpers.specs import DIGITS_MLP
from workers.extractor import execute_extraction
from workers.reaper import reap_extractions

pytestmark = pytest.mark.engines  # each test runs on torch and on onnx (tests/conftest.py)


def download(client: TestClient, headers: dict[str, str], extraction_id: str, name: str) -> Any:
    response = client.get(f"/v1/extractions/{extraction_id}/artifacts/{name}", headers=headers)
    assert response.status_code == 200, response.text
    return np.load(io.BytesIO(response.content), allow_pickle=False)


@pytest.mark.parametrize(
    ("body", "error", "loc"),
    [
        ({"encoder": "no-such-encoder", "dataset": "builtin:iris"}, "invalid_spec", "/encoder"),
        ({"encoder": "nope@7", "dataset": "builtin:iris"}, "invalid_spec", "/encoder"),
        ({"encoder": "minilm-l6", "dataset": "builtin:nope"}, "invalid_spec", "/dataset"),
        ({"encoder": "minilm-l6", "dataset": "ds_missing"}, "invalid_spec", "/dataset"),
        ({"encoder": "minilm-l6", "dataset": "builtin:iris"}, "invalid_spec", "/dataset"),  # not text
        ({"encoder": "efficientnet-lite0", "dataset": "builtin:iris"}, "invalid_spec", "/dataset"),
        ({"encoder": "minilm-l6", "dataset": "builtin:iris", "layer": "nope"}, "unknown_layer", "/layer"),
        ({"encoder": "minilm-l6", "dataset": "builtin:iris", "pool": "none"}, "invalid_request", "/pool"),
        ({"encoder": "minilm-l6", "dataset": "builtin:iris", "extra": 1}, "invalid_request", "/extra"),
        ({"dataset": "builtin:iris"}, "invalid_request", "/encoder"),
    ],
)
def test_jobs_that_cannot_run_are_refused_up_front(
    client: TestClient, admin_headers: dict[str, str], body: dict[str, Any], error: str, loc: str
) -> None:
    response = submit(client, admin_headers, **body)
    assert response.status_code == 422, response.text
    assert (response.json()["error"], response.json()["loc"]) == (error, loc)
    assert client.get("/v1/extractions", headers=admin_headers).json()["data"] == []


def test_a_text_extraction_matches_embed_row_for_row(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    dataset_id = text_dataset(client, admin_headers, n=70)  # more than one chunk of 64
    queued = submit(client, admin_headers, encoder="minilm-l6", dataset=dataset_id)
    assert queued.status_code == 202, queued.text
    job = queued.json()
    assert (job["status"], job["progress"], job["dim"]) == ("queued", {"rows_done": 0, "rows_total": 70}, 384)
    assert job["options"] == {"layer": None, "pool": "mean", "normalize": True, "precision": "fp32"}

    execute_extraction(job["id"], settings, lambda *_: None)  # what the worker does with the message
    done = client.get(f"/v1/extractions/{job['id']}", headers=admin_headers).json()
    assert (done["status"], done["attempt"], done["error"]) == ("succeeded", 1, None)
    assert done["progress"] == {"rows_done": 70, "rows_total": 70}
    listed = client.get(f"/v1/extractions/{job['id']}/artifacts", headers=admin_headers).json()
    assert [a["name"] for a in listed] == ["embeddings.npy", "row_ids.npy"]

    vectors, row_ids = (
        download(client, admin_headers, job["id"], n) for n in ("embeddings.npy", "row_ids.npy")
    )
    assert (vectors.dtype, vectors.shape) == (np.float32, (70, 384))
    assert row_ids.tolist() == list(range(70))
    texts = [f"message number {i} about {'cats' if i % 2 else 'dogs'}" for i in (0, 1, 65, 69)]
    served = client.post("/v1/encoders/minilm-l6/embed", json={"inputs": texts}, headers=admin_headers).json()
    assert np.allclose(vectors[[0, 1, 65, 69]], np.asarray(served["embeddings"]), atol=1e-5)

    again = client.post(f"/v1/extractions/{job['id']}/cancel", headers=admin_headers)
    assert again.status_code == 409


def test_a_registered_encoder_extracts_a_numeric_dataset_pinned_to_its_version(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    run_id = trained_run(client, admin_headers, settings, {**DIGITS_MLP, "training": {"epochs": 2}})
    registered = client.post("/v1/encoders", json={"run_id": run_id, "name": "digits"}, headers=admin_headers)
    assert registered.status_code == 201, registered.text
    wrong_shape = submit(client, admin_headers, encoder="digits", dataset="builtin:iris")
    assert (wrong_shape.status_code, wrong_shape.json()["loc"]) == (422, "/dataset")
    job = submit(client, admin_headers, encoder="digits@latest", dataset="builtin:digits", layer="features.0")
    assert job.status_code == 202, job.text
    assert (job.json()["encoder"], job.json()["options"]["layer"]) == ("digits@1", "features.0")
    execute_extraction(job.json()["id"], settings, lambda *_: None)
    done = client.get(f"/v1/extractions/{job.json()['id']}", headers=admin_headers).json()
    assert done["status"] == "succeeded", done["error"]
    vectors = download(client, admin_headers, done["id"], "embeddings.npy")
    assert vectors.shape == (1797, done["dim"])
    first = client.get("/v1/datasets", headers=admin_headers).json()["data"]
    assert any(d["name"] == "digits" for d in first)


def test_cancel_list_and_other_projects(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    dataset_id = text_dataset(client, admin_headers)
    ids = [
        submit(client, admin_headers, encoder="minilm-l6", dataset=dataset_id).json()["id"] for _ in range(3)
    ]
    page = client.get("/v1/extractions?limit=2", headers=admin_headers).json()
    assert [e["id"] for e in page["data"]] == ids[::-1][:2]
    rest = client.get(f"/v1/extractions?after={page['next_after']}", headers=admin_headers).json()
    assert [e["id"] for e in rest["data"]] == [ids[0]]

    cancelled = client.post(f"/v1/extractions/{ids[0]}/cancel", headers=admin_headers)
    assert cancelled.json()["status"] == "cancelled"
    execute_extraction(ids[0], settings, lambda *_: None)  # a late message for it does nothing
    assert client.get(f"/v1/extractions/{ids[0]}", headers=admin_headers).json()["status"] == "cancelled"
    only = client.get("/v1/extractions?status=cancelled", headers=admin_headers).json()["data"]
    assert [e["id"] for e in only] == [ids[0]]

    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        other = {"Authorization": f"Bearer {create_key(session, ensure_project(session, 'other'), 'admin')}"}
        session.commit()
    engine.dispose()
    for method, path in [
        ("GET", f"/v1/extractions/{ids[1]}"),
        ("POST", f"/v1/extractions/{ids[1]}/cancel"),
        ("GET", f"/v1/extractions/{ids[1]}/artifacts"),
        ("GET", f"/v1/extractions/{ids[1]}/artifacts/embeddings.npy"),
    ]:
        assert client.request(method, path, headers=other).status_code == 404, path
    assert client.get("/v1/extractions", headers=other).json()["data"] == []
    # the other project cannot use this project's dataset either
    foreign = submit(client, other, encoder="minilm-l6", dataset=dataset_id)
    assert (foreign.status_code, foreign.json()["loc"]) == (422, "/dataset")


def test_the_reaper_requeues_then_fails_a_job_whose_worker_died(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    dataset_id = text_dataset(client, admin_headers)
    job_id = submit(client, admin_headers, encoder="minilm-l6", dataset=dataset_id).json()["id"]
    engine = make_engine(settings.resolved_database_url)
    sessions = make_session_factory(engine)
    sent: list[str] = []

    def die_while_running(attempt: int) -> None:
        with sessions() as session:  # a worker claimed it, then vanished: the lease runs out
            session.execute(
                update(Extraction)
                .where(Extraction.id == job_id)
                .values(status="running", attempt=attempt, lease_expires_at=utcnow() - timedelta(seconds=1))
            )
            session.commit()

    for attempt in (1, 2):
        die_while_running(attempt)
        assert reap_extractions(settings, lambda i, _q: sent.append(i))["requeued"] == 1
        assert client.get(f"/v1/extractions/{job_id}", headers=admin_headers).json()["status"] == "queued"
    die_while_running(3)
    assert reap_extractions(settings, lambda i, _q: sent.append(i))["failed"] == 1
    engine.dispose()
    failed = client.get(f"/v1/extractions/{job_id}", headers=admin_headers).json()
    assert failed["status"] == "failed"
    assert "worker lost" in failed["error"]
    assert sent == [job_id, job_id]


def test_a_dataset_in_use_by_a_job_is_kept(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    dataset_id = text_dataset(client, admin_headers)
    job_id = submit(client, admin_headers, encoder="minilm-l6", dataset=dataset_id).json()["id"]
    busy = client.delete(f"/v1/datasets/{dataset_id}", headers=admin_headers)
    assert busy.status_code == 409
    assert job_id in busy.json()["detail"]
    execute_extraction(job_id, settings, lambda *_: None)
    assert client.delete(f"/v1/datasets/{dataset_id}", headers=admin_headers).status_code == 204
    # the finished job keeps its record and its files
    assert client.get(f"/v1/extractions/{job_id}", headers=admin_headers).json()["dataset_id"] == dataset_id
    assert download(client, admin_headers, job_id, "embeddings.npy").shape == (12, 384)
