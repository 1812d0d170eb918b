"""Fine-tuning from a registered encoder over HTTP: an alias is pinned to its version at submission,
the fine-tuned run serves, and a missing or foreign encoder is a 422 at `/model/encoder`."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from deepfeat.config import Settings
from tests.helpers.api import digits, trained_run
from tests.helpers.specs import DIGITS_MLP
from tests.keys import key_headers
from workers.extractor import execute_extraction


def transfer(encoder: str, **model: Any) -> dict[str, Any]:
    return {
        "dataset": "builtin:digits",
        "task": "classification",
        "model": {"type": "transfer", "encoder": encoder, "head": [16], **model},
        "training": {"epochs": 3, "optimizer": {"name": "adam", "lr": 0.01}},
    }


def test_fine_tune_from_an_alias_pins_the_version_and_serves(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    source = trained_run(client, admin_headers, settings, {**DIGITS_MLP, "training": {"epochs": 3}})
    for _ in range(2):  # digits@1 and digits@2; prod → 1
        assert (
            client.post(
                "/v1/encoders", json={"run_id": source, "name": "digits"}, headers=admin_headers
            ).status_code
            == 201
        )
    client.post("/v1/encoders/digits/aliases", json={"alias": "prod", "version": 1}, headers=admin_headers)

    checked = client.post(
        "/v1/runs:validate", json=transfer("digits@prod", freeze={"unfreeze_last": 1}), headers=admin_headers
    )
    assert checked.status_code == 200, checked.text
    report = checked.json()
    assert report["output_shape"] == [10]
    assert 0 < report["trainable_params"] < report["params"]

    run_id = trained_run(client, admin_headers, settings, transfer("digits@prod"))
    run = client.get(f"/v1/runs/{run_id}", headers=admin_headers).json()
    assert run["spec"]["model"]["encoder"] == "digits@1"  # what `prod` meant when it was submitted
    inputs, labels = digits(50)
    predicted = client.post(f"/v1/runs/{run_id}/predict", json={"inputs": inputs}, headers=admin_headers)
    assert predicted.status_code == 200, predicted.text
    accuracy = sum(p == str(y) for p, y in zip(predicted.json()["predictions"], labels, strict=True)) / 50
    assert accuracy > 0.5  # three epochs on a frozen digits encoder; chance is 0.1

    # a fine-tuned run registers and serves like any other
    again = client.post(
        "/v1/encoders", json={"run_id": run_id, "name": "digits-tuned"}, headers=admin_headers
    )
    assert again.status_code == 201, again.text
    assert again.json()["dim"] == 16


def test_unknown_and_foreign_encoders_are_spec_errors(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    source = trained_run(client, admin_headers, settings, {**DIGITS_MLP, "training": {"epochs": 1}})
    client.post("/v1/encoders", json={"run_id": source, "name": "digits"}, headers=admin_headers)
    other_headers = key_headers(settings, project="other")
    for headers, encoder in (
        (admin_headers, "digits@9"),
        (admin_headers, "nope"),
        (other_headers, "digits@1"),
    ):
        for route in ("/v1/runs:validate", "/v1/runs"):
            response = client.post(route, json=transfer(encoder), headers=headers)
            assert response.status_code == 422, (encoder, route, response.text)
            assert response.json()["loc"] == "/model/encoder"
            assert "catalogue encoders: efficientnet-lite0, minilm-l6" in response.json()["detail"]
    assert client.get("/v1/runs", headers=other_headers).json()["data"] == []
    wrong_shape = {**transfer("digits@1"), "dataset": "builtin:iris"}
    response = client.post("/v1/runs", json=wrong_shape, headers=admin_headers)
    assert (response.status_code, response.json()["loc"]) == (422, "/model/encoder")
    assert "reads inputs of shape [1, 8, 8]" in response.json()["detail"]


def test_a_text_run_predicts_serves_and_fine_tunes_from_strings(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    text = {
        "dataset": "builtin:faq-intents",
        "task": "classification",
        "model": {"type": "transfer", "encoder": "minilm-l6", "max_tokens": 16},
        "training": {"epochs": 1, "optimizer": {"name": "adam", "lr": 0.01}},
    }
    run_id = trained_run(client, admin_headers, settings, text)
    questions = ["how do I reset my password", "what are your opening hours"]
    predicted = client.post(f"/v1/runs/{run_id}/predict", json={"inputs": questions}, headers=admin_headers)
    assert predicted.status_code == 200, predicted.text
    assert len(predicted.json()["predictions"]) == 2
    numbers = client.post(f"/v1/runs/{run_id}/predict", json={"inputs": [[1.0, 2.0]]}, headers=admin_headers)
    assert (numbers.status_code, numbers.json()["loc"]) == (422, "/inputs/0")
    assert "send strings" in numbers.json()["detail"]

    registered = client.post("/v1/encoders", json={"run_id": run_id, "name": "faq"}, headers=admin_headers)
    assert registered.status_code == 201, registered.text
    assert (registered.json()["modality"], registered.json()["dim"]) == ("text", 384)
    embedded = client.post("/v1/encoders/faq/embed", json={"inputs": questions}, headers=admin_headers)
    assert embedded.status_code == 200, embedded.text
    assert len(embedded.json()["embeddings"][0]) == 384

    # the registered text encoder extracts a text dataset on a worker, rows equal to /embed
    job = client.post(
        "/v1/extractions", json={"encoder": "faq", "dataset": "builtin:faq-intents"}, headers=admin_headers
    )
    assert job.status_code == 202, job.text
    execute_extraction(job.json()["id"], settings, lambda *_: None)
    vectors = client.get(
        f"/v1/extractions/{job.json()['id']}/artifacts/embeddings.npy", headers=admin_headers
    )
    assert np.load(io.BytesIO(vectors.content), allow_pickle=False).shape == (752, 384)
    refused = client.post(
        "/v1/extractions", json={"encoder": "faq", "dataset": "builtin:iris"}, headers=admin_headers
    )
    assert (refused.status_code, refused.json()["loc"]) == (422, "/dataset")

    tuned = trained_run(
        client, admin_headers, settings, {**text, "model": {"type": "transfer", "encoder": "faq"}}
    )
    again = client.post(f"/v1/runs/{tuned}/predict", json={"inputs": questions}, headers=admin_headers)
    assert again.status_code == 200, again.text
    digits_number = client.post(f"/v1/runs/{tuned}/predict", json={"inputs": [3.0]}, headers=admin_headers)
    assert digits_number.status_code == 422
