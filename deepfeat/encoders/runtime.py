"""The API process's inference side: one inference thread, a batcher per (encoder, options), each
encoder's serving plan (engine, precision, chunks: serving.py), a memory-bounded cache of loaded
encoders registered from runs (pretrained ones load once, see catalogue), and the start-up preload.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import EllipsisType
from typing import Any

import torch

from deepfeat.config import Settings
from deepfeat.encoders.batcher import DynamicBatcher
from deepfeat.encoders.embedder import Embedder, EmbedOptions
from deepfeat.encoders.engine import GraphCache
from deepfeat.encoders.serving import Serving
from deepfeat.errors import DeepfeatError
from deepfeat.gpus import process_slot
from deepfeat.storage import ArtifactStore


class DeviceUnavailable(DeepfeatError):
    status_code = 503
    error = "device_unavailable"


def gpu_device(cuda_available: bool | None = None) -> str:
    """The CUDA device for work that asked for a GPU (an extraction job on the `gpu` queue): this pool
    process's own (`cuda:k`, deepfeat/gpus.py), or a refusal naming why: such a job must not silently
    run on a CPU."""
    if not (torch.cuda.is_available() if cuda_available is None else cuda_available):
        raise DeviceUnavailable("this job asked for a GPU and torch sees no CUDA device on this worker")
    return process_slot(max(torch.cuda.device_count(), 1)).device


def inference_device(settings: Settings, cuda_available: bool | None = None) -> str:
    """`cpu` or `cuda` for the API's encoders: `auto` takes a GPU torch can see; `cuda` without one
    is refused at start-up rather than failing every request."""
    has_cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    if settings.inference_device == "auto":
        return "cuda" if has_cuda else "cpu"
    if settings.inference_device == "cuda" and not has_cuda:
        raise DeviceUnavailable(
            "DEEPFEAT_INFERENCE_DEVICE=cuda but torch sees no CUDA device (CPU build of torch, or no "
            "GPU/driver on this host); set it to cpu or auto"
        )
    return settings.inference_device


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
    def __init__(
        self,
        settings: Settings,
        store: ArtifactStore | None = None,
        threads_left: Callable[[], int | None] = lambda: None,
    ) -> None:
        """`threads_left`: the cores the workers on this host leave, asked when an encoder's engine is
        built (None: no worker here); `DEEPFEAT_INFERENCE_THREADS` overrides it."""
        self.settings = settings
        self.threads_left = threads_left
        self.device = inference_device(settings)
        threads = inference_threads(settings)
        if threads is not None and threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        # Exported graphs live in the artifact store; without one (a bare runtime) torch serves.
        # The index of exported graphs is this host's own (a second host finds or exports its own): it
        # lives in the local cache, never beside data another host might be expected to see.
        self.graphs = GraphCache(store, settings.resolved_cache_dir / "graphs") if store is not None else None
        self.servings: dict[tuple[str, str | None], Serving] = {}
        self._serving_lock = threading.Lock()
        # Start-up preload (DEEPFEAT_PRELOAD_ENCODERS): /readyz answers 503 until `ready` is set.
        self.ready = threading.Event()
        self.preload_errors: dict[str, str] = {}
        if not settings.preload:
            self.ready.set()
        # One thread: batches run one at a time, each with every torch thread of the process.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deepfeat-infer")
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
            for serving_key in [k for k in self.servings if k[0] == evicted]:
                del self.servings[serving_key]
        return embedder

    def serving(self, key: str, embedder: Embedder, layer: str | None) -> Serving:
        """The encoder's serving plan, made on first use (exports or loads its graph, checks the
        engines and precisions on the probe set): seconds once per encoder and process."""
        with self._serving_lock:
            found = self.servings.get((key, layer))
            if found is None:
                s = self.settings
                if embedder.device.type != self.device:
                    embedder.to(torch.device(self.device))
                found = Serving(
                    embedder,
                    layer,
                    engine=s.embed_engine,
                    precision="bf16" if s.embed_bf16 else s.embed_precision,
                    cache=self.graphs,
                    threads=s.inference_threads or self.threads_left() or torch.get_num_threads(),
                    device=self.device,
                    max_batch=s.embed_max_batch,
                    max_tokens=s.embed_max_batch_tokens,
                )
                self.servings[(key, layer)] = found
            return found

    def batcher(
        self, key: str, embedder: Embedder, options: EmbedOptions, default_layer: str | None = None
    ) -> DynamicBatcher:
        found = self.batchers.get((key, options))
        if found is None:
            s = self.settings

            def run(items: list[Any]) -> list[Any]:  # in the inference thread, or inline
                # A built serving is used without the lock, which a load of another encoder may hold
                # for seconds: the event loop must never wait on it.
                built = self.servings.get((key, default_layer))
                return (built or self.serving(key, embedder, default_layer)).run(items, options)

            def inline() -> bool:  # never before the serving is built: building it takes seconds
                built = self.servings.get((key, default_layer))
                return built is not None and built.inline

            found = DynamicBatcher(
                run,
                self.executor,
                max_batch=s.embed_max_batch,
                max_wait_s=s.embed_max_wait_ms / 1000,
                max_queue=s.embed_max_queue,
                max_tokens=s.embed_max_batch_tokens,
                length=embedder.length,
                name=key,
                inline=inline,
            )
            self.batchers[(key, options)] = found
        return found

    async def embed(
        self,
        key: str,
        embedder: Embedder,
        items: list[Any],
        options: EmbedOptions,
        default_layer: str | EllipsisType | None = ...,
    ) -> list[Any]:
        """Embeddings of one request's prepared `items`, batched with concurrent requests.
        `default_layer` is the encoder's own (registered) layer, the one its ONNX graph serves; left
        out, it is the request's (routes that cannot name a layer)."""
        layer = options.layer if isinstance(default_layer, EllipsisType) else default_layer
        return await self.batcher(key, embedder, options, layer).submit(items)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
