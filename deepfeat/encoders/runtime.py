"""The API process's inference side: one inference thread, a batcher per (encoder, options), and a
memory-bounded cache of loaded encoders registered from runs (pretrained ones load once, see catalogue).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from deepfeat.config import Settings
from deepfeat.encoders.batcher import DynamicBatcher
from deepfeat.encoders.embedder import Embedder, EmbedOptions


def inference_threads(settings: Settings) -> int | None:
    """Torch threads for the API process, only when `DEEPFEAT_INFERENCE_THREADS` asks for a number.

    Why opt-in: torch's thread count is process-wide, and changing it after start made the same model
    give results differing in the last bits between request threads (lazily initialised per thread),
    which broke the exact reproducibility of seeded GAN samples and predictions. Where the API shares
    the cores with workers, set it so the sum over processes stays within the cores (DESIGN §7): more
    threads than free cores made the MiniLM forward 3.5× slower on a shared 2-core machine.
    """
    return settings.inference_threads


def _param_bytes(module: torch.nn.Module) -> int:
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


class EncoderRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        threads = inference_threads(settings)
        if threads is not None and threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        # One thread: batches run one at a time, each with every torch thread of the process.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deepfeat-infer")
        self.batchers: dict[tuple[str, EmbedOptions], DynamicBatcher] = {}
        self._trained: OrderedDict[str, Embedder] = OrderedDict()
        # API-key hash → (principal, expiry, revocation stamp): the gateway's lookup cache for the hot routes.
        self.auth_cache: dict[str, tuple[Any, float, tuple[int, int]]] = {}

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
