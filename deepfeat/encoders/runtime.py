"""The API process's inference side: one inference thread, a batcher per (encoder, options), and a
memory-bounded cache of loaded encoders registered from runs (pretrained ones load once, see catalogue).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from deepfeat.config import Settings
from deepfeat.encoders.batcher import DynamicBatcher
from deepfeat.encoders.embedder import Embedder, EmbedOptions


def inference_threads(settings: Settings) -> int:
    """Torch threads for the API's inference thread: the setting, else the torch_threads every process
    shares, else half the cores: the event loop (parsing, tokenising, JSON) needs the rest, and more
    threads than free cores made the MiniLM forward 3.5× slower here (OpenMP threads waiting on each
    other while descheduled; DESIGN §7)."""
    return settings.inference_threads or settings.torch_threads or max(1, (os.cpu_count() or 2) // 2)


def _param_bytes(module: torch.nn.Module) -> int:
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


class EncoderRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        threads = inference_threads(settings)
        torch.set_num_threads(threads)
        # One thread: batches run one at a time, each with every torch thread of the budget.
        self.executor = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="deepfeat-infer",
            initializer=torch.set_num_threads,
            initargs=(threads,),
        )
        self.batchers: dict[tuple[str, EmbedOptions], DynamicBatcher] = {}
        self._trained: OrderedDict[str, Embedder] = OrderedDict()

    def trained(self, key: str, load: Callable[[], Embedder]) -> Embedder:
        """A registered encoder by cache key, loading it on a miss; evicts least recently used ones
        while the cached encoders' weights exceed `encoder_cache_bytes` (the newest always stays)."""
        if key in self._trained:
            self._trained.move_to_end(key)
            return self._trained[key]
        embedder = load()
        self._trained[key] = embedder
        while len(self._trained) > 1 and (
            sum(_param_bytes(e.module) for e in self._trained.values()) > self.settings.encoder_cache_bytes
        ):
            evicted, _ = self._trained.popitem(last=False)
            for batcher_key in [k for k in self.batchers if k[0] == evicted]:
                del self.batchers[batcher_key]
        return embedder

    def batcher(self, key: str, embedder: Embedder, options: EmbedOptions) -> DynamicBatcher:
        found = self.batchers.get((key, options))
        if found is None:
            s = self.settings
            found = DynamicBatcher(
                lambda items: embedder.embed(items, options),
                self.executor,
                max_batch=s.embed_max_batch,
                max_wait_s=s.embed_max_wait_ms / 1000,
                max_queue=s.embed_max_queue,
            )
            self.batchers[(key, options)] = found
        return found

    async def embed(self, key: str, embedder: Embedder, items: list[Any], options: EmbedOptions) -> list[Any]:
        return await self.batcher(key, embedder, options).submit(items)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
