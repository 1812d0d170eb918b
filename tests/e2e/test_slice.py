"""The first vertical slice over HTTP against real processes: upload → train → metrics → weights."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from safetensors.torch import load

from deepfeat.devstack import DevStack
from tests.helpers.specs import SPEC
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.e2e


def test_digits_mlp_trains_to_90_percent_with_metrics_and_weights(api: httpx.Client) -> None:
    dataset = api.post("/v1/datasets", json={"builtin": "digits"})
    assert dataset.status_code == 201, dataset.text
    submitted = api.post("/v1/runs", json={**SPEC, "dataset": dataset.json()["id"]})
    assert submitted.status_code == 202, submitted.text
    run = wait_for(api, submitted.json()["id"])
    assert run["status"] == "succeeded", run["error"]
    assert run["attempt"] == 1
    assert run["progress"]["epoch"] == 8

    metrics = api.get(f"/v1/runs/{run['id']}/metrics").json()
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        epochs = [m["epoch"] for m in metrics if m["key"] == key]
        assert epochs == list(range(1, 9)), key
    val_accuracy = [m["value"] for m in metrics if m["key"] == "val_accuracy"]
    assert val_accuracy[-1] >= 0.9
    assert (
        api.get(f"/v1/runs/{run['id']}/metrics", params={"key": "val_loss"}).json()[-1]["key"] == "val_loss"
    )

    artifacts = {a["name"]: a for a in api.get(f"/v1/runs/{run['id']}/artifacts").json()}
    assert {"model.safetensors", "receipt.json", "spec.json"} <= set(artifacts)
    weights = api.get(f"/v1/runs/{run['id']}/artifacts/model.safetensors")
    assert hashlib.sha256(weights.content).hexdigest() == artifacts["model.safetensors"]["sha256"]
    tensors = load(weights.content)
    assert tensors["head.weight"].shape == (10, 64)
    receipt = api.get(f"/v1/runs/{run['id']}/artifacts/receipt.json").json()
    assert receipt["dataset_sha256"] == dataset.json()["sha256"]
    events = [e["message"] for e in api.get(f"/v1/runs/{run['id']}/events").json()]
    assert events[0] == "queued"
    assert events[1].startswith("running (attempt 1)")
    assert events[-1].startswith("succeeded")


def test_a_run_that_cannot_load_its_data_fails_with_the_reason(api: httpx.Client, stack: DevStack) -> None:
    dataset = api.post("/v1/datasets", json={"builtin": "iris"}).json()
    for blob in (stack.data_dir / "artifacts" / "blobs").rglob(dataset["sha256"]):
        blob.unlink()  # the data vanished from disk between submit and training
    run = wait_for(api, api.post("/v1/runs", json={**SPEC, "dataset": dataset["id"]}).json()["id"])
    assert run["status"] == "failed"
    assert "cannot load the run" in run["error"]
