"""Encoders over HTTP: the catalogue, a digits run registered and served, aliases, every bad input a 4xx."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from deepfeat.config import Settings
from deepfeat.data.builtins import load_builtin
from tests.helpers.api import trained_run
from tests.helpers.specs import DIGITS_MLP

pytestmark = pytest.mark.engines  # each test runs on torch and on onnx (tests/conftest.py)


def png(array: np.ndarray[Any, Any], fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def test_catalogue_lists_pretrained_encoders_with_provenance(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    body = client.get("/v1/encoders", headers=admin_headers).json()
    entries = {e["name"]: e for e in body["data"]}
    minilm, effnet = entries["minilm-l6"], entries["efficientnet-lite0"]
    assert (minilm["modality"], minilm["dim"], minilm["kind"]) == ("text", 384, "pretrained")
    assert (effnet["modality"], effnet["dim"]) == ("image", 1280)
    for entry in (minilm, effnet):
        assert len(entry["sha256"]) == 64
        assert entry["licence"].startswith("Apache-2.0")
        assert "==" in entry["source"]
        assert entry["preprocessing"]
    page = client.get("/v1/encoders?limit=1", headers=admin_headers).json()
    assert len(page["data"]) == 1
    rest = client.get(f"/v1/encoders?after={page['next_after']}", headers=admin_headers).json()
    assert [e["name"] for e in rest["data"]] == ["minilm-l6"]
    assert client.get("/v1/encoders").status_code == 401


def test_registered_digits_encoder_serves_label_bearing_neighbours(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    run_id = trained_run(client, admin_headers, settings, DIGITS_MLP)
    first = client.post("/v1/encoders", json={"run_id": run_id, "name": "digits"}, headers=admin_headers)
    assert first.status_code == 201, first.text
    assert (first.json()["ref"], first.json()["dim"], first.json()["aliases"]) == ("digits@1", 32, ["latest"])

    data = load_builtin("digits")
    rng = np.random.default_rng(0)
    rows = rng.choice(len(data.y), 400, replace=False)
    response = client.post(
        "/v1/encoders/digits/embed",
        json={"inputs": data.X[rows].tolist(), "normalize": True},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"], body["dim"]) == ("digits@1", 1, 32)
    vectors, labels = np.asarray(body["embeddings"]), data.y[rows]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    agreement = np.mean(labels[similarity.argmax(1)] == labels)
    assert agreement > 0.8  # chance is ~0.1 on ten balanced classes

    # a second version moves `latest`; `prod` stays where it was put; layers are any named module
    second = client.post(
        "/v1/encoders",
        json={"run_id": run_id, "name": "digits", "layer": "features.2"},
        headers=admin_headers,
    ).json()
    assert (second["ref"], second["dim"], second["layer"]) == ("digits@2", 64, "features.2")
    alias = client.post(
        "/v1/encoders/digits/aliases", json={"alias": "prod", "version": 1}, headers=admin_headers
    )
    assert alias.status_code == 200, alias.text
    sample = {"inputs": data.X[:2].tolist()}
    for ref, version, dim in (("digits", 2, 64), ("digits@prod", 1, 32), ("digits@1", 1, 32)):
        got = client.post(f"/v1/encoders/{ref}/embed", json=sample, headers=admin_headers).json()
        assert (got["version"], got["dim"]) == (version, dim), ref
    head = client.post(
        "/v1/encoders/digits@1/embed", json={**sample, "layer": "head"}, headers=admin_headers
    ).json()
    assert head["dim"] == 10  # a layer past forward_features: the class logits
    listed = client.get("/v1/encoders", headers=admin_headers).json()["data"]
    registered = {e["ref"]: e for e in listed if e["kind"] == "registered"}
    assert registered["digits@1"]["aliases"] == ["prod"]
    assert registered["digits@2"]["aliases"] == ["latest"]
    assert registered["digits@1"]["input"] == [1, 8, 8]
    assert (registered["digits@1"]["source"], registered["digits@1"]["run_id"]) == (f"run:{run_id}", run_id)
    # OpenAI's model list names every id `/v1/embeddings` takes: versions, aliases, the bare name
    models = client.get("/v1/models", headers=admin_headers).json()
    assert models["object"] == "list"
    ids = {m["id"] for m in models["data"]}
    assert {"minilm-l6", "efficientnet-lite0", "digits", "digits@1", "digits@2", "digits@prod"} <= ids
    assert client.get("/v1/models/digits@prod", headers=admin_headers).json()["id"] == "digits@prod"

    # bad inputs: each a clear 4xx naming what is wrong
    def embed(ref: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        r = client.post(f"/v1/encoders/{ref}/embed", json=payload, headers=admin_headers)
        return r.status_code, r.json()

    status, err = embed("digits", {"inputs": ["a sentence"]})
    assert (status, err["loc"]) == (422, "/inputs/0")
    assert "numeric" in err["detail"]
    status, err = embed("digits", {"inputs": [[1, 2, 3]]})
    assert status == 422
    assert "64" in err["detail"]
    status, err = embed("digits", {"inputs": data.X[:1].tolist(), "layer": "nope"})
    assert (status, err["error"]) == (422, "unknown_layer")
    assert "features.0" in err["detail"]
    status, err = embed("digits", {"inputs": data.X[:1].tolist(), "pool": "cls"})
    assert status == 422
    assert embed("digits@7", sample)[0] == 404
    assert embed("digits@staging", sample)[0] == 404
    assert embed("nothing-here", sample)[0] == 404
    assert embed("digits", {"inputs": [[0.0] * 64] * 1025})[0] == 413
    assert embed("digits", {"inputs": []})[0] == 422

    assert (
        client.post(
            "/v1/encoders/digits/aliases", json={"alias": "prod", "version": 9}, headers=admin_headers
        )
    ).status_code == 404
    assert (
        client.post(
            "/v1/encoders/digits/aliases", json={"alias": "latest", "version": 1}, headers=admin_headers
        )
    ).status_code == 409
    for bad in (
        {"run_id": "run_nope", "name": "x"},
        {"run_id": run_id, "name": "minilm-l6"},
        {"run_id": run_id, "name": "Bad Name"},
        {"run_id": run_id, "name": "x", "layer": "nope"},
    ):
        response = client.post("/v1/encoders", json=bad, headers=admin_headers)
        assert 400 <= response.status_code < 500, (bad, response.text)


def test_pretrained_text_and_image_over_http(client: TestClient, admin_headers: dict[str, str]) -> None:
    texts = ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell today."]
    body = client.post("/v1/encoders/minilm-l6/embed", json={"inputs": texts}, headers=admin_headers).json()
    vectors = np.asarray(body["embeddings"])
    assert (body["dim"], body["normalized"], body["model"]) == (384, True, "minilm-l6")
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.4

    tokens = client.post(
        "/v1/encoders/minilm-l6/embed",
        json={"inputs": texts[:2], "pool": "none", "layer": "encoder.layer.3"},
        headers=admin_headers,
    ).json()
    assert [np.asarray(t).shape[1] for t in tokens["embeddings"]] == [384, 384]
    assert len(tokens["embeddings"][0]) < len(tokens["embeddings"][1])  # each text keeps its length

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(40, 60, 3), dtype=np.uint8)
    out = client.post(
        "/v1/encoders/efficientnet-lite0/embed",
        json={"inputs": [png(image), "data:image/jpeg;base64," + png(image, "JPEG")]},
        headers=admin_headers,
    ).json()
    assert out["dim"] == 1280
    assert len(out["embeddings"]) == 2

    def status(ref: str, payload: dict[str, Any]) -> tuple[int, str]:
        r = client.post(f"/v1/encoders/{ref}/embed", json=payload, headers=admin_headers)
        return r.status_code, r.json().get("loc", "")

    assert status("minilm-l6", {"inputs": [[1.0, 2.0]]}) == (422, "/inputs/0")
    assert status("efficientnet-lite0", {"inputs": ["just some words"]}) == (422, "/inputs/0")
    not_an_image = base64.b64encode(b"\x89PNG but not really").decode()
    assert status("efficientnet-lite0", {"inputs": [png(image), not_an_image]}) == (422, "/inputs/1")
    gif = io.BytesIO()
    Image.fromarray(image).save(gif, format="GIF")
    assert status("efficientnet-lite0", {"inputs": [base64.b64encode(gif.getvalue()).decode()]})[0] == 422
    assert status("minilm-l6", {"inputs": ["x"], "layer": "encoder.layer.9"})[0] == 422
    assert status("minilm-l6", {"inputs": ["x"], "layer": "encoder.layer"}) == (422, "/layer")  # a container
    positions = {"inputs": ["x", "y"], "layer": "embeddings.position_embeddings"}  # not one row per input
    assert status("minilm-l6", positions) == (422, "/layer")
    assert status("minilm-l6@3", {"inputs": ["x"]})[0] == 404
    assert status("minilm-l6", {"inputs": ["x"] * 1025})[0] == 413
    huge = client.post(
        "/v1/encoders/minilm-l6/embed",
        content=b'{"inputs": ["' + b"a" * (17 * 2**20) + b'"]}',
        headers={**admin_headers, "content-type": "application/json"},
    )
    assert huge.status_code == 413


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_openai_compatible_embeddings(
    client: TestClient, admin_headers: dict[str, str], encoding: str
) -> None:
    response = client.post(
        "/v1/embeddings",
        json={"model": "minilm-l6", "input": ["hello world", "good morning"], "encoding_format": encoding},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    assert body["model"] == "minilm-l6"
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert all(d["object"] == "embedding" for d in body["data"])
    first = body["data"][0]["embedding"]
    vector = (
        np.frombuffer(base64.b64decode(first), dtype="<f4") if encoding == "base64" else np.asarray(first)
    )
    assert vector.shape == (384,)
    assert abs(np.linalg.norm(vector) - 1) < 1e-4
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] == 8  # [CLS] 2 words [SEP], twice

    single = client.post(
        "/v1/embeddings", json={"model": "minilm-l6", "input": "hello world"}, headers=admin_headers
    ).json()
    assert np.allclose(single["data"][0]["embedding"], vector, atol=1e-5)
    for bad, code in (
        ({"model": "nope", "input": "x"}, 404),
        ({"model": "minilm-l6", "input": []}, 400),  # OpenAI answers invalid requests with 400
        ({"model": "minilm-l6", "input": [[1, 10**9]]}, 400),  # outside the vocabulary
        ({"model": "minilm-l6", "input": ["x"] * 1025}, 413),
        ({"model": "efficientnet-lite0", "input": "a sentence"}, 400),
    ):
        got = client.post("/v1/embeddings", json=bad, headers=admin_headers)
        assert got.status_code == code, (bad, got.text)
