"""The client libraries people already have, against a live server process: the official `openai`
SDK, LangChain's `OpenAIEmbeddings`, Hugging Face's `InferenceClient` (TEI routes). The snippets are
the ones in docs/encoders.md, run verbatim; each answer is compared with deepfeat's own route."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import huggingface_hub
import numpy as np
import openai
import pytest

from deepfeat.client import AsyncClient, Client, DeepfeatAPIError
from deepfeat.devstack import DevStack
from tests.helpers.env import ADMIN_KEY

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


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """A server whose keys may send one request per 4 s (after a burst of one). MiniLM is loaded before
    the server is ready: a first request that loaded it could outlast the window on a loaded machine,
    and the request after it would then be let in instead of refused."""
    env = {
        "DEEPFEAT_RATE_LIMIT_PER_SECOND": "0.25",
        "DEEPFEAT_RATE_LIMIT_BURST": "1",
        "DEEPFEAT_PRELOAD_ENCODERS": "minilm-l6",
    }
    with DevStack(
        tmp_path_factory.mktemp("limited") / "var", ADMIN_KEY, worker=False, extra_env=env
    ) as stack:
        yield stack


def wait_for_window() -> None:
    """Past the moving window (one request per 4 s), so the next request is let in: the test before
    may have just used it. A probe request would use it up itself."""
    time.sleep(4.5)


def test_openai_sdk_retries_obey_the_headers(limited: DevStack) -> None:
    """The SDK waits `Retry-After` and retries a 429, as `x-should-retry: true` says. Requests are
    counted by the SDK's own transport hook."""
    sent: list[str] = []

    def count(request: Any) -> None:
        sent.append(str(request.url))

    stack = limited
    wait_for_window()
    http = openai.DefaultHttpxClient(event_hooks={"request": [count]})
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key=ADMIN_KEY, http_client=http, max_retries=3)
    client.embeddings.create(model="minilm-l6", input="first")
    sent.clear()
    second = client.embeddings.create(model="minilm-l6", input="second")  # 429 first, then let in
    assert len(second.data) == 1
    assert len(sent) >= 2
    sent.clear()
    no_retry = openai.OpenAI(base_url=stack.url + "/v1", api_key=ADMIN_KEY, http_client=http, max_retries=0)
    with pytest.raises(openai.RateLimitError) as refused:  # the window was just used up
        no_retry.embeddings.create(model="minilm-l6", input="x")
    assert refused.value.code == "rate_limit_exceeded"
    assert refused.value.response.headers["x-should-retry"] == "true"
    assert int(refused.value.response.headers["retry-after"]) >= 1
    assert len(sent) == 1
    http.close()


def test_python_client_retries_429_after_retry_after(limited: DevStack) -> None:
    wait_for_window()
    with Client(limited.url, ADMIN_KEY, retries=3) as df:
        assert df.embed("minilm-l6", ["first"]).shape == (1, 384)
        started = time.monotonic()
        assert df.embed("minilm-l6", ["second"]).shape == (1, 384)  # a 429, waited out, then let in
        assert time.monotonic() - started >= 1.0
    with Client(limited.url, ADMIN_KEY, retries=0) as df, pytest.raises(DeepfeatAPIError) as refused:
        df.embed("minilm-l6", ["third"])
    assert refused.value.status == 429
    assert refused.value.retry_after is not None
    assert refused.value.retry_after >= 1


def test_python_clients_read_every_page(api_only: DevStack) -> None:
    with Client(api_only.url, ADMIN_KEY) as df:
        made = {df.create_builtin("iris", name=f"iris-{i}").id for i in range(3)}
        assert made <= {d.id for d in df.datasets(page_size=1)}
        assert {"minilm-l6", "efficientnet-lite0"} <= {e.name for e in df.encoders(page_size=1)}
        expected = df.embed("minilm-l6", TEXTS)

    async def use_async() -> tuple[set[str], set[str], np.ndarray[Any, Any]]:
        async with AsyncClient(api_only.url, ADMIN_KEY) as adf:
            datasets = {d.id async for d in adf.datasets(page_size=1)}
            encoders = {e.name for e in await adf.encoders(page_size=1)}
            vectors = await adf.embed("minilm-l6", TEXTS)
            return datasets, encoders, vectors

    datasets, encoders, vectors = asyncio.run(use_async())
    assert made <= datasets
    assert {"minilm-l6", "efficientnet-lite0"} <= encoders
    assert_same(vectors, expected.astype(np.float64))


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
