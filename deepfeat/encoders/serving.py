"""How one loaded encoder serves a batch: which engine (ONNX Runtime or torch), which precision, in
what chunks — decided once at load from checks on a fixed probe set, reported by GET /v1/encoders/{ref}.

Engines (`DEEPFEAT_EMBED_ENGINE`): `onnx` serves the default layer from the exported graph; `torch`
never exports; `auto` (default) serves from the graph only if it matches torch to cosine ≥ 0.9999 on
the probe. A `layer=` other than the exported one always runs on torch, whose hooks reach any module.

Precisions (`DEEPFEAT_EMBED_PRECISION`, or a request's `precision`): `auto` (default): fp32, and bf16
for chunks of `BF16_MIN_BATCH` or more inputs where bf16 pays off — the CPU has AVX512-BF16/AMX (or the
device is a GPU), bf16's probe cosine to fp32 is ≥ `AUTO_MIN_COSINE` (0.9999), and a full batch ran at
least `AUTO_MIN_SPEEDUP` faster in bf16 than in fp32 when the encoder loaded. Measured here, bf16 was
1.4-2.0× fp32 at batch 32 on such a CPU but 0.56-0.67× at batch 1, 0.6× everywhere on a CPU without the
instructions, and slower for a small MLP whatever the CPU: each of those keeps fp32. Under `auto` an
answer can move in the 5th decimal with the batch a request lands in; `fp32` (exact, and the same
answer whatever the batch), `bf16` (torch autocast, always) and `int8` (ORT dynamic quantisation) are
asked for by name.

Chunks: a batch is sorted by input length and cut into chunks of at most `max_batch` inputs and
`max_tokens` padded tokens, each padded to its own longest input, so one long text no longer pads the
whole batch; results go back in the callers' order.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepfeat.encoders import metrics
from deepfeat.encoders.embedder import Embedder, EmbedOptions, InvalidInput, Precision, pool
from deepfeat.encoders.engine import GraphCache, OnnxEngine

log = logging.getLogger("deepfeat.encoders")
ONNX_MIN_COSINE = 0.9999
AUTO_MIN_COSINE = 0.9999  # what the default precision may lose, at most
AUTO_MIN_SPEEDUP = 1.1  # bf16 must beat fp32 by this much on a full batch, or auto keeps fp32
BF16_MIN_BATCH = 8
# A CPU model whose full batch runs faster than this (measured at load) is run on the event loop rather
# than in the inference thread: for a small MLP, handing the batch to a thread and then the GIL back and
# forth at each torch/ORT call cost ~3 ms a batch under load, against ~35 µs of work.
INLINE_BELOW_S = 0.001
TIMING_BUDGET_S = 0.25  # a batch slower than this is timed once at load (loading stays fast)


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def cpu_has_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether bf16 matmuls run in hardware here (AVX512-BF16 or AMX-BF16)."""
    found = cpu_flags() if flags is None else flags
    return bool({"avx512_bf16", "amx_bf16"} & found)


def min_cosine(a: list[Any], b: list[Any]) -> float:
    x, y = np.stack([np.ravel(v) for v in a]), np.stack([np.ravel(v) for v in b])
    dots = (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)).clip(1e-12)
    return float(dots.min())


class Serving:
    """One encoder's engines and precisions (for its default `layer`), checked at load."""

    def __init__(
        self,
        embedder: Embedder,
        layer: str | None,
        *,
        engine: str,
        precision: Precision,
        cache: GraphCache | None,
        threads: int,
        device: str = "cpu",
        max_batch: int = 32,
        max_tokens: int | None = None,
    ) -> None:
        self.embedder, self.layer = embedder, layer
        self.engine_setting, self.precision_setting = engine, precision
        self.cache, self.threads, self.device = cache, threads, device
        self.max_batch, self.max_tokens = max_batch, max_tokens
        self.onnx: OnnxEngine | None = None
        self.int8: OnnxEngine | None = None
        self.reports: dict[str, dict[str, Any]] = {}
        self._probe = embedder.probe()
        self._reference = self._torch(self._probe, EmbedOptions(layer=layer), "fp32")
        self.reports["fp32"] = {"engine": "torch", "cosine_to_fp32": 1.0, "available": True}
        self._load_onnx()
        bf16 = self._torch(self._probe, EmbedOptions(layer=layer, precision="bf16"), "bf16")
        self.reports["bf16"] = {
            "engine": "torch",
            "cosine_to_fp32": round(min_cosine(bf16, self._reference), 6),
            "available": True,
            "hardware": cpu_has_bf16() or device == "cuda",
        }
        if precision == "int8":
            self.ensure_int8()
        else:
            self.reports["int8"] = {"engine": "onnx", "cosine_to_fp32": None, "available": None}
        fp32_s = self._time_full_batch("fp32")
        bf16_s = self._time_full_batch("bf16") if self._bf16_may_pay() else None
        self.reports["bf16"]["speedup_vs_fp32"] = round(fp32_s / bf16_s, 3) if bf16_s else None
        # What a full batch costs on the default plan (it decides `inline`); `auto` resolves here with the
        # speed-up just measured.
        default = self.full_batch_precision()
        self.full_batch_s = {"fp32": fp32_s, "bf16": bf16_s}.get(default) or self._time_full_batch(default)

    def _time_full_batch(self, precision: Precision) -> float:
        """Seconds a full batch (`max_batch` copies of the probe's median-length input) takes in
        `precision`, on the engine that precision runs on. One untimed run first: the first batch of a
        shape builds its kernels (oneDNN's bf16 ones took up to 2× a warm batch), and timing it made
        `auto` pick bf16 on some loads and fp32 on others of the same encoder on the same machine. Then
        the best of 3 runs, or the one run for a batch slower than TIMING_BUDGET_S (loading stays fast).
        The median input, not the probe as it is: the probe holds a long text on purpose, and a batch
        padded to it measured a speed-up unlike that of the short texts most traffic carries."""
        by_length = sorted(self._probe, key=self.embedder.length)
        batch = [by_length[len(by_length) // 2]] * self.max_batch
        options = EmbedOptions(layer=self.layer, precision=precision)
        started = time.perf_counter()
        self.run(batch, options)  # warm-up
        warm_up_s, best = time.perf_counter() - started, float("inf")
        for _ in range(1 if warm_up_s >= TIMING_BUDGET_S else 3):
            started = time.perf_counter()
            self.run(batch, options)
            best = min(best, time.perf_counter() - started)
        return best

    def _bf16_may_pay(self) -> bool:
        """Whether bf16 is worth timing for `auto`: the hardware has it and the model keeps its answers."""
        report = self.reports["bf16"]
        return bool(report["hardware"]) and report["cosine_to_fp32"] >= AUTO_MIN_COSINE

    @property
    def inline(self) -> bool:
        """Run batches on the caller's thread (the event loop): a small CPU model (INLINE_BELOW_S)."""
        return self.device == "cpu" and self.full_batch_s < INLINE_BELOW_S

    # --- loading -------------------------------------------------------------------------------------
    def _load_onnx(self) -> None:
        if self.engine_setting == "torch" or self.cache is None:
            return
        try:
            graph = self.cache.graph(self.embedder, self.layer, "fp32")
            if graph is None:
                return
            engine = OnnxEngine(graph, self.threads, self.device)
        except Exception as exc:  # no graph: torch serves (and says so in the report)
            log.warning("no ONNX graph for this encoder (%s); serving it on torch", exc)
            self.reports["fp32"]["onnx_error"] = str(exc)[:300]
            return
        cosine = min_cosine(self._graph_run(engine, self._probe, EmbedOptions()), self._reference)
        self.reports["fp32"]["onnx_cosine_to_torch"] = round(cosine, 7)
        if cosine >= ONNX_MIN_COSINE or self.engine_setting == "onnx":
            self.onnx = engine
            self.reports["fp32"].update(engine="onnx", providers=engine.providers)

    def ensure_int8(self) -> OnnxEngine | None:
        """The int8 engine, built (quantised and checked) on first use; None where there is no graph."""
        if (
            self.int8 is None
            and self.cache is not None
            and self.reports.get("int8", {}).get("available") is not False
        ):
            report: dict[str, Any] = {"engine": "onnx", "cosine_to_fp32": None, "available": False}
            try:
                graph = self.cache.graph(self.embedder, self.layer, "int8")
                if graph is not None:
                    self.int8 = OnnxEngine(graph, self.threads, self.device)
                    out = self._graph_run(self.int8, self._probe, EmbedOptions())
                    report.update(cosine_to_fp32=round(min_cosine(out, self._reference), 6), available=True)
            except Exception as exc:
                log.warning("no int8 graph for this encoder: %s", exc)
                report["error"] = str(exc)[:300]
            self.reports["int8"] = report
        return self.int8

    # --- choosing ------------------------------------------------------------------------------------
    def default_precision(self) -> str:
        """What a request without `precision` gets: the setting, `auto` resolved per chunk."""
        return self.precision_setting

    def _auto_bf16(self, n: int) -> bool:
        speedup = self.reports["bf16"].get("speedup_vs_fp32")
        return n >= BF16_MIN_BATCH and self._bf16_may_pay() and (speedup or 0.0) >= AUTO_MIN_SPEEDUP

    def full_batch_precision(self) -> Precision:
        """What a full batch of a request without `precision` runs in (`auto` resolved)."""
        return self.plan(EmbedOptions(layer=self.layer), self.max_batch)[1]

    def plan(self, options: EmbedOptions, n: int) -> tuple[str, Precision]:
        """(engine, precision) for a chunk of `n` inputs with `options`."""
        precision: Precision = options.precision or self.precision_setting
        if precision == "auto":
            precision = "bf16" if self._auto_bf16(n) else "fp32"
        on_graph = options.layer == self.layer
        if precision == "int8":
            if not on_graph or self.ensure_int8() is None:
                raise InvalidInput(
                    "/precision",
                    "int8 runs on the encoder's ONNX graph of its default layer; this request "
                    "(layer or encoder) has none: use fp32 or bf16",
                )
            return "onnx", "int8"
        if precision == "fp32" and on_graph and self.onnx is not None:
            return "onnx", "fp32"
        return "torch", precision

    # --- running -------------------------------------------------------------------------------------
    def run(self, items: list[Any], options: EmbedOptions) -> list[Any]:
        """Embeddings of a batch in the callers' order, computed in length-sorted, token-bounded chunks."""
        order = sorted(range(len(items)), key=lambda i: self.embedder.length(items[i]))
        results: list[Any] = [None] * len(items)
        for chunk in self._chunks(order, items):
            part = [items[i] for i in chunk]
            for i, vector in zip(chunk, self._run_chunk(part, options), strict=True):
                results[i] = vector
        return results

    def _chunks(self, order: list[int], items: list[Any]) -> list[list[int]]:
        chunks: list[list[int]] = [[]]
        for i in order:  # ascending length: the last item of a chunk is its longest
            longest = self.embedder.length(items[i])
            grown = len(chunks[-1]) + 1
            too_many = grown > self.max_batch
            too_long = self.max_tokens is not None and grown * longest > self.max_tokens
            if chunks[-1] and (too_many or too_long):
                chunks.append([])
            chunks[-1].append(i)
        return chunks

    def _run_chunk(self, items: list[Any], options: EmbedOptions) -> list[Any]:
        engine, precision = self.plan(options, len(items))
        started = time.perf_counter()
        if engine == "onnx":
            graph = self.int8 if precision == "int8" else self.onnx
            assert graph is not None
            out = self._graph_run(graph, items, options)
        else:
            out = self._torch(items, options, precision)
        metrics.INFERENCE_SECONDS.labels(engine, precision).observe(time.perf_counter() - started)
        return out

    def _graph_run(self, graph: OnnxEngine, items: list[Any], options: EmbedOptions) -> list[Any]:
        tensors, mask = self.embedder.feed(items)
        return pool(graph.run(tensors), mask, options.pool, options.normalize)

    def _torch(self, items: list[Any], options: EmbedOptions, precision: str) -> list[Any]:
        fixed = EmbedOptions(
            options.layer, options.pool, options.normalize, "bf16" if precision == "bf16" else None
        )
        return self.embedder.embed(items, fixed)

    def describe(self) -> dict[str, Any]:
        """Engines and precisions as measured on the probe set (int8 is measured here if not yet)."""
        if self.engine_setting != "torch":
            self.ensure_int8()
        return {
            "engine": "onnx" if self.onnx is not None else "torch",
            "engine_setting": self.engine_setting,
            "default_precision": self.precision_setting,
            "device": self.device,
            "probe_inputs": len(self._probe),
            "precisions": self.reports,
            "cpu_bf16": cpu_has_bf16(),
            "torch_threads": torch.get_num_threads(),
            "onnx_threads": self.threads if self.onnx is not None else None,
            "full_batch_precision": self.full_batch_precision(),
            "full_batch_ms": round(self.full_batch_s * 1000, 3),
            "inline": self.inline,
        }
