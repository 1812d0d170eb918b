"""Through the HTTP stack: concurrent clients share forward passes; a full queue answers 429."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient

from deepfeat.config import Settings

pytestmark = pytest.mark.engines  # each test runs on torch and on onnx (tests/conftest.py)


@pytest.fixture
def small_queue_client(settings: Settings) -> Iterator[TestClient]:
    from service.app import create_app

    tight = settings.model_copy(update={"embed_max_queue": 4, "embed_max_wait_ms": 20.0})
    with TestClient(create_app(tight)) as test_client:
        yield test_client


def test_concurrent_http_requests_are_coalesced(
    small_queue_client: TestClient, admin_headers: dict[str, str]
) -> None:
    client = small_queue_client
    texts = [f"request number {i}" for i in range(4)]

    def one(text: str) -> list[float]:
        response = client.post("/v1/encoders/minilm-l6/embed", json={"inputs": [text]}, headers=admin_headers)
        assert response.status_code == 200, response.text
        vector: list[float] = response.json()["embeddings"][0]
        return vector

    one("warm up")
    with ThreadPoolExecutor(4) as pool:
        vectors = list(pool.map(one, texts))
    runtime = client.app.state.encoders  # type: ignore[attr-defined]
    sizes = [s for b in runtime.batchers.values() for s in b.stats.recent_sizes]
    assert max(sizes) > 1, sizes
    alone = client.post("/v1/encoders/minilm-l6/embed", json={"inputs": texts}, headers=admin_headers)
    assert np.allclose(vectors, alone.json()["embeddings"], atol=1e-5)  # each got its own answer

    full = client.post("/v1/encoders/minilm-l6/embed", json={"inputs": ["x"] * 5}, headers=admin_headers)
    assert full.status_code == 429
    assert int(full.headers["Retry-After"]) >= 1
    assert full.json()["error"] == "busy"
