"""A batch extraction on a real worker: embeddings.npy is N×384 float32 (fp32, the extraction default)
and its rows equal what the synchronous `/embed` answers in fp32 for the same texts (and match the
server's default precision to cosine 0.9999); then the client and CLI drive the same job."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from deepfeat.client import Client
from deepfeat.devstack import DevStack
from tests import datafiles
from tests.helpers.env import ADMIN_KEY

pytestmark = pytest.mark.e2e
N = 80  # more than one chunk (64 rows)


def wait_for(api: httpx.Client, extraction_id: str, timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    seen: list[int] = []
    while time.monotonic() < deadline:
        job: dict[str, Any] = api.get(f"/v1/extractions/{extraction_id}").json()
        seen.append(job["progress"]["rows_done"])
        if job["status"] in ("succeeded", "failed", "cancelled"):
            assert seen == sorted(seen)  # progress only moves forward
            return job
        time.sleep(0.2)
    raise TimeoutError(f"extraction {extraction_id} still {job['status']} after {timeout_s}s")


def test_extraction_on_a_worker_matches_embed(api: httpx.Client, stack: DevStack, tmp_path: Path) -> None:
    uploaded = api.post(
        "/v1/datasets", files={"file": ("notes.jsonl", datafiles.jsonl_bytes(N), "application/octet-stream")}
    )
    assert uploaded.status_code == 201, uploaded.text
    dataset_id = uploaded.json()["id"]
    queued = api.post("/v1/extractions", json={"encoder": "minilm-l6", "dataset": dataset_id})
    assert queued.status_code == 202, queued.text
    job = wait_for(api, queued.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"] == {"rows_done": N, "rows_total": N}

    with Client(stack.url, ADMIN_KEY) as client:
        saved = client.download_extraction(job["id"], "embeddings.npy", tmp_path)
        ids = client.download_extraction(job["id"], "row_ids.npy", tmp_path)
        assert [j.id for j in client.extractions()] == [job["id"]]
    vectors = np.load(saved, allow_pickle=False)
    assert (vectors.dtype, vectors.shape) == (np.float32, (N, 384))
    assert np.load(ids, allow_pickle=False).tolist() == list(range(N))

    texts = [f"message number {i} about {'cats' if i % 2 else 'dogs'}" for i in range(N)]
    exact = api.post("/v1/encoders/minilm-l6/embed", json={"inputs": texts, "precision": "fp32"})
    assert exact.status_code == 200, exact.text
    assert np.allclose(vectors, np.asarray(exact.json()["embeddings"], dtype=np.float32), atol=1e-5)
    # The server's default (`auto`) may run a batch this size in bf16: the same vectors to cosine 0.9999.
    served = np.asarray(api.post("/v1/encoders/minilm-l6/embed", json={"inputs": texts}).json()["embeddings"])
    assert np.min(np.sum(vectors * served, axis=1)) >= 0.9999

    cancelled_late = api.post(f"/v1/extractions/{job['id']}/cancel")
    assert cancelled_late.status_code == 409
