"""The client libraries people already have, against a live server process: the official `openai`
SDK, LangChain's `OpenAIEmbeddings`, Hugging Face's `InferenceClient` (TEI routes). The snippets are
the ones in docs/encoders.md, run verbatim; each answer is compared with deepfeat's own route."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import huggingface_hub
import numpy as np
import openai
import pytest

from deepfeat.devstack import DevStack, free_port
from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.e2e
DOCS = Path(__file__).resolve().parents[2] / "docs" / "encoders.md"
TEXTS = ["hello world", "good morning"]


def doc_snippets() -> dict[str, str]:
    """The python blocks of the docs' "use it from" section, by the package each imports."""
    section = DOCS.read_text().split("### Use it from the clients you already have", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    found = {}
    for block in blocks:
        package = re.search(r"^from (\w+) import", block, flags=re.M)
        assert package is not None, block
        found[package[1]] = block
    return found


def reference(stack: DevStack) -> np.ndarray[Any, Any]:
    got = httpx.post(
        f"{stack.url}/v1/encoders/minilm-l6/embed",
        json={"inputs": TEXTS},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=60,
    )
    assert got.status_code == 200, got.text
    return np.asarray(got.json()["embeddings"])


def run_snippet(package: str, stack: DevStack, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("DEEPFEAT_URL", stack.url)
    monkeypatch.setenv("DEEPFEAT_API_KEY", ADMIN_KEY)
    namespace: dict[str, Any] = {}
    exec(compile(doc_snippets()[package], f"docs/encoders.md ({package})", "exec"), namespace)  # noqa: S102
    return namespace


def assert_same(vectors: Any, expected: np.ndarray[Any, Any]) -> None:
    got = np.asarray(vectors, dtype=np.float64)
    assert got.shape == expected.shape
    cosine = (got * expected).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))
    assert cosine.min() >= 0.9999, cosine


def test_docs_cover_each_client() -> None:
    assert set(doc_snippets()) == {"openai", "langchain_openai", "huggingface_hub"}


def test_openai_sdk(api_only: DevStack, monkeypatch: pytest.MonkeyPatch) -> None:
    found = run_snippet("openai", api_only, monkeypatch)
    assert_same(found["vectors"], reference(api_only))
    assert {"minilm-l6", "efficientnet-lite0"} <= set(found["models"])
    client: openai.OpenAI = found["client"]
    assert client.models.retrieve("minilm-l6").id == "minilm-l6"
    floats = client.embeddings.create(model="minilm-l6", input="hello world", encoding_format="float")
    assert_same([floats.data[0].embedding], reference(api_only)[:1])

    with pytest.raises(openai.NotFoundError) as missing:
        client.embeddings.create(model="no-such-encoder", input="x")
    assert missing.value.code == "model_not_found"
    assert missing.value.param == "model"
    assert "no-such-encoder" in missing.value.message
    with pytest.raises(openai.BadRequestError) as bad:
        client.embeddings.create(model="minilm-l6", input="x", dimensions=16)
    assert (bad.value.code, bad.value.param) == ("bad_request", "dimensions")
    assert "384" in bad.value.message
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-encoder")


def test_openai_sdk_retries_obey_the_headers(tmp_path: Path) -> None:
    """A rate-limited key (one request per 4 s): the SDK waits `Retry-After` and retries, as
    `x-should-retry: true` says. Requests are counted by the SDK's own transport hook."""
    env = {"DEEPFEAT_RATE_LIMIT_PER_SECOND": "0.25", "DEEPFEAT_RATE_LIMIT_BURST": "1"}
    sent: list[str] = []

    def count(request: Any) -> None:
        sent.append(str(request.url))

    with DevStack(tmp_path / "var", ADMIN_KEY, worker=False, port=free_port(), extra_env=env) as stack:
        http = openai.DefaultHttpxClient(event_hooks={"request": [count]})
        client = openai.OpenAI(base_url=stack.url + "/v1", api_key=ADMIN_KEY, http_client=http, max_retries=3)
        client.embeddings.create(model="minilm-l6", input="first")
        sent.clear()
        second = client.embeddings.create(model="minilm-l6", input="second")  # 429 first, then let in
        assert len(second.data) == 1
        assert len(sent) >= 2
        sent.clear()
        no_retry = openai.OpenAI(
            base_url=stack.url + "/v1", api_key=ADMIN_KEY, http_client=http, max_retries=0
        )
        with pytest.raises(openai.RateLimitError) as limited:  # the window was just used up
            no_retry.embeddings.create(model="minilm-l6", input="x")
        assert limited.value.code == "rate_limit_exceeded"
        assert limited.value.response.headers["x-should-retry"] == "true"
        assert int(limited.value.response.headers["retry-after"]) >= 1
        assert len(sent) == 1
        http.close()


def test_langchain_openai_embeddings(api_only: DevStack, monkeypatch: pytest.MonkeyPatch) -> None:
    found = run_snippet("langchain_openai", api_only, monkeypatch)
    assert_same(found["vectors"], reference(api_only))
    assert_same([found["embeddings"].embed_query(TEXTS[0])], reference(api_only)[:1])


def test_huggingface_inference_client(api_only: DevStack, monkeypatch: pytest.MonkeyPatch) -> None:
    found = run_snippet("huggingface_hub", api_only, monkeypatch)
    assert_same(found["vectors"], reference(api_only))
    client: huggingface_hub.InferenceClient = found["client"]
    with pytest.raises(huggingface_hub.errors.HfHubHTTPError) as too_long:
        client.feature_extraction("word " * 400, truncate=False)
    assert too_long.value.response.status_code == 422
    assert "truncate" in str(too_long.value)
    assert client.feature_extraction("word " * 400, truncate=True).shape == (1, 384)
