"""The dynamic batcher on the real MiniLM: concurrent requests share forward passes."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from deepfeat.encoders.batcher import DynamicBatcher, QueueFull
from deepfeat.encoders.catalogue import load_pretrained
from deepfeat.encoders.embedder import EmbedOptions


def test_concurrent_requests_are_coalesced_and_answered_in_order() -> None:
    minilm = load_pretrained("minilm-l6")
    options = EmbedOptions(normalize=True)
    texts = [f"sentence number {i} about topic {i % 5}" for i in range(48)]

    async def main() -> tuple[list[np.ndarray], list[int]]:
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(
                lambda items: minilm.embed(items, options), pool, max_batch=16, max_wait_s=0.005
            )
            answers = await asyncio.gather(*(batcher.submit(minilm.prepare([t])) for t in texts))
            return [a[0] for a in answers], list(batcher.stats.recent_sizes)

    results, sizes = asyncio.run(main())
    assert sum(sizes) == 48
    assert max(sizes) > 1  # coalesced
    assert max(sizes) <= 16
    assert len(sizes) < 48
    reference = np.stack(minilm.embed(minilm.prepare(texts), options))
    assert np.allclose(np.stack(results), reference, atol=1e-5)  # each request got its own answer


def test_a_full_queue_refuses_with_a_retry_hint() -> None:
    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(lambda items: items, pool, max_batch=4, max_queue=3)
            with pytest.raises(QueueFull) as refused:
                await batcher.submit([1, 2, 3, 4])
            assert refused.value.retry_after_s >= 1
            assert await batcher.submit([1, 2]) == [1, 2]

    asyncio.run(main())


def test_a_failing_batch_fails_its_requests_and_the_batcher_lives_on() -> None:
    calls = []

    def fn(items: list[int]) -> list[int]:
        calls.append(len(items))
        if 0 in items:
            raise ValueError("boom")
        return items

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(fn, pool, max_batch=8, max_wait_s=0)
            with pytest.raises(ValueError, match="boom"):
                await batcher.submit([0])
            assert await batcher.submit([5]) == [5]

    asyncio.run(main())
    assert calls == [1, 1]
