"""Trained runs serve predictions, anomaly scores and samples (trained in-process by the real runner)."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from deepfeat.config import Settings
from deepfeat.data.builtins import load_builtin
from tests.helpers.api import digits, trained_run


def test_classification_predicts_labels_with_probabilities(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    run_id = trained_run(
        client,
        admin_headers,
        settings,
        {
            "dataset": "builtin:digits",
            "task": "classification",
            "model": {"type": "mlp", "hidden": [64]},
            "training": {"epochs": 10, "optimizer": {"name": "adam", "lr": 0.003}},
        },
    )
    inputs, labels = digits(50)
    body = client.post(f"/v1/runs/{run_id}/predict", json={"inputs": inputs}, headers=admin_headers).json()
    assert body["classes"] == [str(i) for i in range(10)]
    accuracy = np.mean([p == str(y) for p, y in zip(body["predictions"], labels, strict=True)])
    assert accuracy > 0.85
    assert np.allclose(np.sum(body["probabilities"], axis=1), 1.0, atol=1e-5)
    # the same inputs nested as 1×8×8 images give the same answer
    nested = np.asarray(inputs).reshape(-1, 1, 8, 8).tolist()
    again = client.post(f"/v1/runs/{run_id}/predict", json={"inputs": nested}, headers=admin_headers).json()
    assert again["predictions"] == body["predictions"]

    bad = client.post(
        f"/v1/runs/{run_id}/predict", json={"inputs": [inputs[0], [1, 2, 3]]}, headers=admin_headers
    )
    assert bad.status_code == 422
    assert bad.json()["loc"] == "/inputs/1"
    assert "64" in bad.json()["detail"]
    nan = client.post(
        f"/v1/runs/{run_id}/predict",
        content=b'{"inputs": [[NaN' + b", 0" * 63 + b"]]}",
        headers={**admin_headers, "content-type": "application/json"},
    )
    assert nan.status_code == 422
    too_many = client.post(
        f"/v1/runs/{run_id}/predict", json={"inputs": [inputs[0]] * 1025}, headers=admin_headers
    )
    assert too_many.status_code == 413
    wrong = client.post(f"/v1/runs/{run_id}/score", json={"inputs": inputs[:2]}, headers=admin_headers)
    assert (wrong.status_code, wrong.json()["error"]) == (422, "wrong_task")


def test_regression_predicts_values(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    run_id = trained_run(
        client,
        admin_headers,
        settings,
        {
            "dataset": "builtin:diabetes",
            "task": "regression",
            "model": {"type": "mlp", "hidden": [16]},
            "training": {"epochs": 5},
        },
    )
    data = load_builtin("diabetes")
    body = client.post(
        f"/v1/runs/{run_id}/predict", json={"inputs": data.X[:3].tolist()}, headers=admin_headers
    )
    assert body.status_code == 200, body.text
    assert len(body.json()["predictions"]) == 3
    assert all(isinstance(v, float) for v in body.json()["predictions"])


def test_autoencoder_scores_flag_noise_but_not_digits(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    run_id = trained_run(
        client,
        admin_headers,
        settings,
        {
            "dataset": "builtin:digits",
            "task": "autoencoder",
            "model": {"type": "autoencoder", "hidden": [64], "latent_dim": 12},
            "training": {"epochs": 30, "optimizer": {"name": "adam", "lr": 0.003}},
        },
    )
    inputs, _ = digits(100)
    noise = np.random.default_rng(0).uniform(0, 16, size=(20, 64)).tolist()
    normal = client.post(f"/v1/runs/{run_id}/score", json={"inputs": inputs}, headers=admin_headers).json()
    odd = client.post(f"/v1/runs/{run_id}/score", json={"inputs": noise}, headers=admin_headers).json()
    assert normal["fpr"] == 0.01
    assert np.mean(normal["is_anomaly"]) < 0.1
    assert np.mean(odd["is_anomaly"]) > 0.9
    assert min(odd["scores"]) > np.median(normal["scores"])
    looser = client.post(
        f"/v1/runs/{run_id}/score", json={"inputs": inputs, "fpr": 0.2}, headers=admin_headers
    )
    assert looser.json()["threshold"] < normal["threshold"]


def test_gan_samples_are_shaped_like_the_data_and_seeded(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    run_id = trained_run(
        client,
        admin_headers,
        settings,
        {
            "dataset": "builtin:digits",
            "task": "gan",
            "model": {"type": "gan", "latent_dim": 8},
            "training": {"epochs": 2},
        },
    )
    body = client.post(f"/v1/runs/{run_id}/samples", json={"n": 5, "seed": 3}, headers=admin_headers).json()
    assert body["shape"] == [1, 8, 8]
    assert np.asarray(body["samples"]).shape == (5, 1, 8, 8)
    again = client.post(f"/v1/runs/{run_id}/samples", json={"n": 5, "seed": 3}, headers=admin_headers).json()
    assert again["samples"] == body["samples"]
    assert client.post(f"/v1/runs/{run_id}/samples", json={"n": 0}, headers=admin_headers).status_code == 422
    names = [a["name"] for a in client.get(f"/v1/runs/{run_id}/artifacts", headers=admin_headers).json()]
    assert {"samples/epoch-0001.png", "samples/epoch-0002.png"} <= set(names)
    grid = client.get(f"/v1/runs/{run_id}/artifacts/samples/epoch-0002.png", headers=admin_headers)
    assert grid.headers["content-type"] == "image/png"
    assert grid.content.startswith(b"\x89PNG")


@pytest.mark.parametrize("path", ["predict", "score", "samples"])
def test_unknown_and_unfinished_runs(client: TestClient, admin_headers: dict[str, str], path: str) -> None:
    body = {"inputs": [[0.0] * 64]} if path != "samples" else {}
    assert client.post(f"/v1/runs/run_nope/{path}", json=body, headers=admin_headers).status_code == 404
    queued = client.post(
        "/v1/runs",
        json={"dataset": "builtin:digits", "task": "classification", "model": {"type": "mlp"}},
        headers=admin_headers,
    ).json()
    response = client.post(f"/v1/runs/{queued['id']}/{path}", json=body, headers=admin_headers)
    assert response.status_code == 409
    assert "queued" in response.json()["detail"]


def test_a_conditional_gan_samples_the_label_asked_for_and_refuses_unknown_ones(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    spec = {
        "dataset": "builtin:digits",
        "task": "gan",
        "model": {"type": "gan", "latent_dim": 8, "conditional": True},
        "training": {"epochs": 2},
    }
    run_id = trained_run(client, admin_headers, settings, spec)
    url = f"/v1/runs/{run_id}/samples"
    by_name = client.post(url, json={"n": 4, "seed": 1, "label": "7"}, headers=admin_headers)
    assert by_name.status_code == 200, by_name.text
    assert np.asarray(by_name.json()["samples"]).shape == (4, 1, 8, 8)
    other = client.post(url, json={"n": 4, "seed": 1, "label": "2"}, headers=admin_headers).json()
    assert other["samples"] != by_name.json()["samples"]  # same noise, another class: other samples
    for body in ({"n": 4, "label": "eleven"}, {"n": 4, "label": 42}, {"n": 4}):
        refused = client.post(url, json=body, headers=admin_headers)
        assert refused.status_code == 422, body
        assert refused.json()["loc"] == "/label"


def test_a_conditional_gan_needs_a_target_and_an_unconditional_one_takes_no_label(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    conditional = {"dataset": "builtin:digits", "task": "gan", "model": {"type": "gan", "conditional": True}}
    regression = client.post(
        "/v1/runs:validate", json={**conditional, "dataset": "builtin:diabetes"}, headers=admin_headers
    )
    assert regression.status_code == 422
    assert regression.json()["loc"] == "/model/conditional"
    plain = {"dataset": "builtin:digits", "task": "gan", "model": {"type": "gan", "latent_dim": 8}}
    run_id = trained_run(client, admin_headers, settings, {**plain, "training": {"epochs": 1}})
    refused = client.post(f"/v1/runs/{run_id}/samples", json={"n": 2, "label": "3"}, headers=admin_headers)
    assert refused.status_code == 422
    assert refused.json()["loc"] == "/label"
