"""The dynamic batcher on the real MiniLM: concurrent requests share forward passes."""

from __future__ import annotations

import asyncio
import threading
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


def test_batches_are_bounded_by_padded_tokens_as_well_as_inputs() -> None:
    """Items are strings standing for their token count: 8 short ones and 2 long ones, queued together,
    under a 64-token budget; no batch may pad past it (a lone over-budget request still runs)."""
    ran: list[list[str]] = []

    def fn(items: list[str]) -> list[str]:
        ran.append(items)
        return items

    async def main() -> list[list[str]]:
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(fn, pool, max_batch=32, max_wait_s=0.05, max_tokens=64, length=len)
            texts = ["a" * 4] * 8 + ["b" * 40, "c" * 100]
            return await asyncio.gather(*(batcher.submit([t]) for t in texts))

    answers = asyncio.run(main())
    assert [a[0] for a in answers] == ["a" * 4] * 8 + ["b" * 40, "c" * 100]  # each got its own
    for batch in ran:
        assert len(batch) == 1 or len(batch) * max(len(t) for t in batch) <= 64, batch
    assert max(len(b) for b in ran) > 1  # still coalesced
    assert ["c" * 100] in ran


def test_a_lone_client_does_not_wait_for_company() -> None:
    """At concurrency 1 there is nothing to wait for: with a 30 s max wait a single request still
    comes back at once (the wait applies only after a batch that held several requests)."""

    async def main() -> list[int]:
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(lambda items: items, pool, max_batch=8, max_wait_s=30)
            answers = []
            for i in range(3):
                answers += await asyncio.wait_for(batcher.submit([i]), timeout=10)
            return answers

    assert asyncio.run(main()) == [0, 1, 2]


def test_the_batcher_feeds_the_batch_metrics() -> None:
    from deepfeat.encoders import metrics

    def count(name: str) -> float:
        for metric in metrics.BATCH_SIZE.collect() + metrics.BATCH_TOKENS.collect():
            for sample in metric.samples:
                if sample.name == name:
                    return sample.value
        return 0.0

    before = count("deepfeat_embedding_batch_size_count"), count("deepfeat_embedding_batch_tokens_sum")

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(lambda items: items, pool, max_batch=8, length=len)
            await batcher.submit(["abc", "abcdef"])

    asyncio.run(main())
    assert count("deepfeat_embedding_batch_size_count") == before[0] + 1
    assert count("deepfeat_embedding_batch_tokens_sum") == before[1] + 12  # 2 inputs padded to 6


@pytest.mark.parametrize("inline", [True, False])
def test_a_small_model_runs_on_the_event_loop_and_a_large_one_in_the_inference_thread(inline: bool) -> None:
    """`inline` (the runtime's verdict on the model's measured batch time) decides, batch by batch."""
    seen: list[int] = []

    def fn(items: list[int]) -> list[int]:
        seen.append(threading.get_ident())
        return [i * 2 for i in items]

    async def main() -> tuple[list[list[int]], int]:
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(fn, pool, max_batch=8, inline=lambda: inline)
            answers = await asyncio.gather(*(batcher.submit([i]) for i in range(5)))
            return answers, threading.get_ident()

    answers, loop_thread = asyncio.run(main())
    assert answers == [[0], [2], [4], [6], [8]]
    assert seen
    assert all((ident == loop_thread) is inline for ident in seen)
