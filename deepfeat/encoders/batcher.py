"""Dynamic batching: concurrent requests for one encoder are coalesced into one forward pass.

A request awaits a future; one collector task per (encoder, options) takes whatever is queued — up to
`max_batch` items and `max_tokens` padded tokens (inputs × the longest input's length, what the
forward really computes) — and runs the batch in the inference thread, off the event loop. While a
batch runs, the next one fills up, so under load batches grow by themselves.

A model small enough (the runtime says so through `inline`) runs on the event loop itself: a thread hop
and the GIL handoffs at each op cost a small MLP a hundred times its forward under load.

Waiting for more inputs (at most `max_wait_s`) only pays when other clients are sending: the collector
waits only after a batch that held more than one request. A lone client (concurrency 1) never waits,
so its latency is the forward's. A queue holding more than `max_queue` items refuses new work (429 with
Retry-After) instead of growing without bound. The batcher records TEI's metrics (metrics.py).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from deepfeat.encoders import metrics
from deepfeat.errors import DeepfeatError

BatchFn = Callable[[list[Any]], list[Any]]
LengthFn = Callable[[Any], int]


class QueueFull(DeepfeatError):
    status_code = 429
    error = "busy"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s


@dataclass
class _Request:
    items: list[Any]
    future: asyncio.Future[list[Any]]
    longest: int
    queued_at: float


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    seconds: float = 0.0
    recent_sizes: deque[int] = field(default_factory=lambda: deque(maxlen=1000))

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


class DynamicBatcher:
    def __init__(
        self,
        fn: BatchFn,
        executor: ThreadPoolExecutor,
        *,
        max_batch: int = 32,
        max_wait_s: float = 0.002,
        max_queue: int = 1024,
        max_tokens: int | None = None,
        length: LengthFn | None = None,
        name: str = "",
        inline: Callable[[], bool] = lambda: False,
    ) -> None:
        """`inline`: asked before each batch; True runs it on the event loop instead of `executor`
        (a model small enough that the hop costs more than the forward)."""
        self.fn, self.executor, self.inline = fn, executor, inline
        self.max_batch, self.max_wait_s, self.max_queue = max_batch, max_wait_s, max_queue
        self.max_tokens = max_tokens
        self.length: LengthFn = length or (lambda _item: 1)
        self.depth = metrics.QUEUE_DEPTH.labels(name or "unnamed")
        self._last_requests = 0  # requests in the previous batch: >1 means others are sending
        self.stats = BatchStats()
        self._queue: deque[_Request] = deque()
        self._queued_items = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, items: list[Any]) -> list[Any]:
        """Results for `items`, in order, once the batch they join has run."""
        if self._queued_items + len(items) > self.max_queue:
            raise QueueFull(
                f"the encoder's queue is full ({self._queued_items} inputs waiting); retry shortly",
                retry_after_s=self._retry_after(),
            )
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        longest = max((self.length(item) for item in items), default=1)
        self._queue.append(_Request(items, future, longest, time.perf_counter()))
        self._queued_items += len(items)
        self.depth.set(self._queued_items)
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._collect())
        return await future

    def _retry_after(self) -> int:
        rate = self.stats.items_per_s or 1.0
        return max(1, math.ceil(self._queued_items / rate))

    async def _collect(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=60)
                except TimeoutError:
                    return  # idle: the next submit starts a new collector
                continue
            wait = self.max_wait_s if self._last_requests > 1 else 0.0
            deadline = time.monotonic() + wait
            while not self._full() and (left := deadline - time.monotonic()) > 0:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=left)
                except TimeoutError:
                    break
            batch = self._take()
            await self._run(batch)

    def _full(self) -> bool:
        if self._queued_items >= self.max_batch:
            return True
        if self.max_tokens is None:
            return False
        longest = max(r.longest for r in self._queue)
        return self._queued_items * longest >= self.max_tokens

    def _fits(self, size: int, longest: int, request: _Request) -> bool:
        if size + len(request.items) > self.max_batch:
            return False
        padded = (size + len(request.items)) * max(longest, request.longest)
        return self.max_tokens is None or padded <= self.max_tokens

    def _take(self) -> list[_Request]:
        """Whole requests up to `max_batch` items and `max_tokens` padded tokens (a larger single
        request runs alone; the encoder cuts it into sorted chunks)."""
        batch: list[_Request] = []
        size = longest = 0
        while self._queue and (not batch or self._fits(size, longest, self._queue[0])):
            request = self._queue.popleft()
            self._queued_items -= len(request.items)
            if request.future.cancelled():  # the client went away while queued
                continue
            batch.append(request)
            size += len(request.items)
            longest = max(longest, request.longest)
        self.depth.set(self._queued_items)
        return batch

    async def _run(self, batch: list[_Request]) -> None:
        if not batch:
            return
        flat = [item for request in batch for item in request.items]
        started = time.perf_counter()
        self._last_requests = len(batch)
        for request in batch:
            metrics.QUEUE_SECONDS.observe(started - request.queued_at)
        metrics.BATCH_SIZE.observe(len(flat))
        metrics.BATCH_TOKENS.observe(len(flat) * max(r.longest for r in batch))
        try:
            if self.inline():
                results = self.fn(flat)
            else:
                results = await asyncio.get_running_loop().run_in_executor(self.executor, self.fn, flat)
        except Exception as exc:  # every waiting request learns why, the collector lives on
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        self.stats.batches += 1
        self.stats.items += len(flat)
        self.stats.seconds += time.perf_counter() - started
        self.stats.recent_sizes.append(len(flat))
        offset = 0
        for request in batch:
            n = len(request.items)
            if not request.future.done():
                request.future.set_result(results[offset : offset + n])
            offset += n
