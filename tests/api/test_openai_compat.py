"""The OpenAI- and TEI-shaped routes in process: error envelopes, retry headers, token ids, `dimensions`,
`truncate`. (The same routes driven by the real client libraries: tests/e2e/test_clients.py.)"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from deepfeat.encoders.catalogue import load_pretrained
from deepfeat.services.compat import truncate_vectors


def embed(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/v1/embeddings", json={"model": "minilm-l6", **body}, headers=headers)


def vector(response: Any, i: int = 0) -> np.ndarray[Any, Any]:
    assert response.status_code == 200, response.text
    return np.asarray(response.json()["data"][i]["embedding"])


def test_openai_errors_use_openai_envelope_and_retry_headers(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    missing = client.post("/v1/embeddings", json={"model": "nope", "input": "x"}, headers=admin_headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    assert missing.json()["error"]["param"] == "model"
    assert missing.headers["x-should-retry"] == "false"

    invalid = embed(client, admin_headers, input=[], encoding_format="float")
    assert invalid.status_code == 400
    assert set(invalid.json()["error"]) == {"message", "type", "param", "code"}
    assert invalid.json()["error"]["type"] == "invalid_request_error"
    assert invalid.json()["error"]["param"] == "input"

    typo = embed(client, admin_headers, input="x", encodng_format="float")  # pydantic's 422 → OpenAI's 400
    assert typo.status_code == 400, typo.text
    assert typo.json()["error"]["param"] == "encodng_format"

    unauthorized = client.post("/v1/embeddings", json={"model": "minilm-l6", "input": "x"})
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["code"] == "invalid_api_key"

    unknown = client.get("/v1/models/nope", headers=admin_headers)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "model_not_found")

    # deepfeat's own shape stays everywhere else
    own = client.post("/v1/encoders/nope/embed", json={"inputs": ["x"]}, headers=admin_headers)
    assert own.status_code == 404
    assert own.json()["error"] == "not_found"
    assert isinstance(own.json()["detail"], str)


def test_models_list_and_retrieve(client: TestClient, admin_headers: dict[str, str]) -> None:
    listed = client.get("/v1/models", headers=admin_headers).json()
    assert listed["object"] == "list"
    assert {"minilm-l6", "efficientnet-lite0"} <= {m["id"] for m in listed["data"]}
    assert all(m["object"] == "model" for m in listed["data"])
    one = client.get("/v1/models/minilm-l6", headers=admin_headers).json()
    assert (one["id"], one["object"]) == ("minilm-l6", "model")


def test_token_ids_of_the_encoders_own_tokenizer(client: TestClient, admin_headers: dict[str, str]) -> None:
    tokenizer = load_pretrained("minilm-l6").tokenizer  # type: ignore[attr-defined]
    ids = [tokenizer.encode(t).ids for t in ("hello world", "a longer sentence about cats")]
    texts = embed(client, admin_headers, input=["hello world", "a longer sentence about cats"])
    as_ids = embed(client, admin_headers, input=ids)
    one = embed(client, admin_headers, input=ids[0])  # a single list of ints is one input
    for i in (0, 1):
        assert float(vector(texts, i) @ vector(as_ids, i)) > 0.9999
    assert float(vector(one) @ vector(texts)) > 0.9999
    assert texts.json()["usage"] == as_ids.json()["usage"]

    vocab = tokenizer.get_vocab_size()
    outside = embed(client, admin_headers, input=[[101, vocab]])
    assert outside.status_code == 400
    assert "vocabulary" in outside.json()["error"]["message"]
    assert outside.json()["error"]["param"] == "input"
    image = client.post(
        "/v1/embeddings", json={"model": "efficientnet-lite0", "input": [[1, 2]]}, headers=admin_headers
    )
    assert image.status_code == 400
    assert "text encoders" in image.json()["error"]["message"]


def test_dimensions(client: TestClient, admin_headers: dict[str, str]) -> None:
    same = embed(client, admin_headers, input="hi", dimensions=384)
    assert vector(same).shape == (384,)
    shorter = embed(client, admin_headers, input="hi", dimensions=128)
    assert shorter.status_code == 400  # minilm-l6 is not trained for truncation
    assert shorter.json()["error"]["param"] == "dimensions"
    assert "384" in shorter.json()["error"]["message"]


def test_truncation_keeps_a_prefix_and_renormalises() -> None:
    rng = np.random.default_rng(0)
    vectors = list(rng.normal(size=(3, 16)).astype(np.float32))
    cut = np.asarray(truncate_vectors(vectors, 4))
    assert cut.shape == (3, 4)
    assert np.allclose(np.linalg.norm(cut, axis=1), 1, atol=1e-6)
    assert np.allclose(
        cut * np.linalg.norm(np.asarray(vectors)[:, :4], axis=1, keepdims=True),
        np.asarray(vectors)[:, :4],
        atol=1e-5,
    )


def test_tei_embed_info_health_and_truncate(client: TestClient, admin_headers: dict[str, str]) -> None:
    got = client.post("/embed", json={"inputs": ["hello world", "x"]}, headers=admin_headers)
    assert got.status_code == 200, got.text
    vectors = np.asarray(got.json())
    assert vectors.shape == (2, 384)
    reference = client.post(
        "/v1/encoders/minilm-l6/embed", json={"inputs": ["hello world"]}, headers=admin_headers
    )
    assert float(vectors[0] @ np.asarray(reference.json()["embeddings"][0])) > 0.9999
    root = client.post("/", json={"inputs": "hello world"}, headers=admin_headers)
    assert np.allclose(np.asarray(root.json())[0], vectors[0], atol=1e-5)

    long_text = "word " * 400
    refused = client.post("/embed", json={"inputs": [long_text]}, headers=admin_headers)
    assert refused.status_code == 422
    assert refused.json()["error_type"] == "Validation"
    assert "truncate" in refused.json()["error"]
    cut = client.post("/embed", json={"inputs": [long_text], "truncate": True}, headers=admin_headers)
    assert cut.status_code == 200

    info = client.get("/info", headers=admin_headers).json()
    assert info["model_id"] == "minilm-l6"
    assert info["max_input_length"] == 256
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded"])
def test_json_body_without_json_content_type(
    client: TestClient, admin_headers: dict[str, str], content_type: str | None
) -> None:
    headers = {**admin_headers, **({"Content-Type": content_type} if content_type else {})}
    got = client.post("/v1/encoders/minilm-l6/embed", content=b'{"inputs": ["hi"]}', headers=headers)
    # FastAPI reads a body as JSON only when told so; the answer names the header that is missing
    assert got.status_code == 422
    assert "Content-Type: application/json" in got.json()["detail"]
    fine = client.post(
        "/v1/encoders/minilm-l6/embed",
        content=b'{"inputs": ["hi"]}',
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert fine.status_code == 200


def test_a_misspelt_field_gets_the_closest_known_one(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    spec = {
        "dataset": "builtin:digits",
        "task": "classification",
        "model": {"type": "mlp", "hiden": [32]},
        "training": {"optimizer": {"name": "sgd", "lrr": 0.1}, "epocs": 3},
    }
    got = client.post("/v1/runs:validate", json=spec, headers=admin_headers)
    assert got.status_code == 422
    by_loc = {e["loc"]: e["msg"] for e in got.json()["errors"]}
    assert "did you mean `hidden`?" in by_loc["/model/hiden"]
    assert "did you mean `lr`?" in by_loc["/training/optimizer/lrr"]
    assert "did you mean `epochs`?" in by_loc["/training/epocs"]
    assert got.json()["detail"].endswith("?")  # the first error's message carries it too
    nothing_near = client.post(
        "/v1/runs:validate", json={**spec, "model": {"type": "mlp", "zzzzzz": 1}}, headers=admin_headers
    )
    assert "did you mean" not in {e["loc"]: e["msg"] for e in nothing_near.json()["errors"]}["/model/zzzzzz"]


def test_retry_verdicts() -> None:
    from deepfeat.encoders.catalogue import EncoderUnavailable
    from deepfeat.errors import ArtifactCorrupt, RateLimited
    from service.dialects import should_retry

    assert should_retry(EncoderUnavailable.status_code, EncoderUnavailable.retryable) == "false"
    assert should_retry(ArtifactCorrupt.status_code, ArtifactCorrupt.retryable) == "false"  # a 409
    assert should_retry(RateLimited.status_code, RateLimited.retryable) == "true"
    assert should_retry(500, None) is None  # a bug we know nothing about: the client decides
