"""Uploaded files through the real worker: each trainable format runs one epoch and succeeds, and the
run's receipt names the dataset's sha256 and the split's digest."""

from __future__ import annotations

import hashlib

import httpx
import numpy as np
import pytest

from tests import datafiles
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.e2e


def test_uploaded_formats_train_in_the_worker(api: httpx.Client) -> None:
    uploads = [
        ("people.csv", datafiles.csv_bytes(), {"target": "kind"}, "classification"),
        ("prices.parquet", datafiles.parquet_bytes(), {"target": "price"}, "regression"),
        ("pics.zip", datafiles.image_zip_bytes(), {"image_size": "8"}, "classification"),
        (
            "seq.npz",
            datafiles.npz_bytes(np.random.default_rng(0).normal(size=(30, 6, 2)), np.arange(30) % 2),
            {},
            "classification",
        ),
    ]
    runs = []
    for filename, data, fields, task in uploads:
        dataset = api.post("/v1/datasets", files={"file": (filename, data)}, data=fields)
        assert dataset.status_code == 201, dataset.text
        spec = {
            "dataset": dataset.json()["id"],
            "task": task,
            "model": {"type": "mlp", "hidden": [8]},
            "training": {"epochs": 1, "batch_size": 8},
        }
        submitted = api.post("/v1/runs", json=spec)
        assert submitted.status_code == 202, submitted.text
        runs.append((submitted.json()["id"], hashlib.sha256(data).hexdigest()))
    for run_id, sha in runs:
        run = wait_for(api, run_id)
        assert run["status"] == "succeeded", run["error"]
        assert run["dataset_sha256"] == sha
        receipt = api.get(f"/v1/runs/{run_id}/artifacts/receipt.json").json()
        assert receipt["dataset_sha256"] == sha
        assert len(receipt["split_sha256"]) == 64
