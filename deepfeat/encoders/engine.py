"""The ONNX Runtime engine: an encoder's graph exported once, cached in the artifact store, run by ORT.

The graph maps the encoder's `feed` tensors to its unpooled default output (`Embedder.graph`), so
pooling, normalisation and every `pool` stay the service's own (embedder.pool) on either engine.
Graphs are exported per weights sha256 (an encoder version's identity), the layer and the precision;
the bytes go into the artifact store through its ordinary `put_bytes`/`verified`, and a small index
(`<cache dir>/graphs/<variant digest>.json` → blob key and sha256) finds them again, so a restart or a
second API process on the host loads instead of re-exporting. int8 is ONNX Runtime's dynamic
quantisation of the fp32 graph (weights int8, activations quantised per batch).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import secrets
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]
import torch
from torch import nn

from deepfeat.encoders.embedder import Embedder
from deepfeat.storage import ArtifactStore

log = logging.getLogger("deepfeat.encoders")
GRAPH_FORMAT = 1  # bump when the exported graph's contract changes: old cache entries are then ignored

# Graph bytes by variant, per process: tests and several apps in one process export each variant once.
_memo: dict[str, bytes] = {}
_memo_lock = threading.Lock()


def variant_id(embedder: Embedder, layer: str | None, precision: str) -> str | None:
    """What a cached graph is keyed by; None for an encoder without known weights (nothing to key)."""
    if embedder.weights_sha256 is None:
        return None
    return f"v{GRAPH_FORMAT}:{embedder.weights_sha256}:{layer or ''}:{precision}:torch{torch.__version__}"


def export_onnx(module: nn.Module, example: tuple[torch.Tensor, ...], axes: list[tuple[int, ...]]) -> bytes:
    """`module` as ONNX with the given axes dynamic. The TorchScript exporter first (about 4× faster
    than the dynamo one on MiniLM here); the dynamo exporter where tracing fails."""
    # The exporter runs the module in eval mode and then restores "the" training mode recursively: a
    # freshly built wrapper (training=True) would leave the shared, served encoder in training mode, and
    # every later forward would move its batch-norm statistics. Each module gets its own mode back.
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        return _export(module, example, axes)
    finally:
        for m, mode in modes.items():
            m.training = mode


def _export(module: nn.Module, example: tuple[torch.Tensor, ...], axes: list[tuple[int, ...]]) -> bytes:
    names = [f"input{i}" for i in range(len(example))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters' deprecation noise; failures still raise
        try:
            buffer = io.BytesIO()
            torch.onnx.export(
                module,
                example,
                buffer,  # type: ignore[arg-type]
                dynamo=False,
                input_names=names,
                output_names=["features"],
                dynamic_axes={n: {a: f"axis{a}" for a in ax} for n, ax in zip(names, axes, strict=True)},
                opset_version=17,
            )
            return buffer.getvalue()
        except Exception as exc:  # the tracer cannot follow every module: try the dynamo exporter
            log.info("TorchScript ONNX export failed (%s); trying the dynamo exporter", exc)
        dims = {a: torch.export.Dim(f"axis{a}") for ax in axes for a in ax}
        program = torch.onnx.export(
            module,
            example,
            dynamo=True,
            input_names=names,
            output_names=["features"],
            dynamic_shapes=tuple({a: dims[a] for a in ax} for ax in axes),
        )
        assert program is not None
        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "model.onnx"
            program.save(str(target))
            return target.read_bytes()


def quantize_int8(graph: bytes) -> bytes:
    """ONNX Runtime's dynamic int8 quantisation of an fp32 graph."""
    from onnxruntime.quantization import (  # type: ignore[import-untyped]
        QuantType,
        quantize_dynamic,
    )

    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source, target = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(graph)
        # MatMul weights per output channel: the probe cosine to fp32 rose from 0.87 (per tensor, every
        # op type) to 0.965 on MiniLM here, at 2.5x the speed of quantising every op.
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
        return target.read_bytes()


class GraphCache:
    """Exported graphs in the artifact store, found by variant through a per-host index."""

    def __init__(self, store: ArtifactStore, index_dir: Path) -> None:
        self.store = store
        self.index_dir = index_dir

    def _index(self, variant: str) -> Path:
        return self.index_dir / f"{hashlib.sha256(variant.encode()).hexdigest()}.json"

    def get(self, variant: str) -> bytes | None:
        index = self._index(variant)
        with _memo_lock:
            known = _memo.get(variant)
        if known is not None:
            if not index.exists():  # exported by this process for another store: file it here too
                self.put(variant, known)
            return known
        if not index.exists():
            return None
        entry = json.loads(index.read_text())
        try:
            data = self.store.verified(entry["key"], entry["sha256"], "a cached ONNX graph").read_bytes()
        except Exception as exc:  # gone or altered: export again rather than trust it
            log.warning("ignoring the cached ONNX graph %s: %s", entry.get("key"), exc)
            return None
        with _memo_lock:
            _memo[variant] = data
        return data

    def put(self, variant: str, data: bytes) -> None:
        blob = self.store.put_bytes(data)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.index_dir / f".{secrets.token_hex(8)}.tmp"
        tmp.write_text(json.dumps({"variant": variant, "key": blob.key, "sha256": blob.sha256}))
        tmp.replace(self._index(variant))  # atomic: a reader sees the old index or the new one
        with _memo_lock:
            _memo[variant] = data

    def graph(self, embedder: Embedder, layer: str | None, precision: str) -> bytes | None:
        """The cached graph of this variant, exporting (and caching) it on a miss; None when the
        encoder has no graph for `layer` or no weights digest to key it by."""
        variant = variant_id(embedder, layer, precision)
        module = embedder.graph(layer)
        if variant is None or module is None:
            return None
        found = self.get(variant)
        if found is not None:
            return found
        if precision == "int8":
            fp32 = self.graph(embedder, layer, "fp32")
            if fp32 is None:
                return None
            data = quantize_int8(fp32)
        else:
            tensors, _ = embedder.feed(embedder.probe()[:2])
            with torch.inference_mode(False), torch.no_grad():
                data = export_onnx(module.cpu(), tuple(t.cpu() for t in tensors), embedder.dynamic_axes())
        self.put(variant, data)
        return data


def providers(device: str) -> list[str]:
    """ORT's execution providers for `device`: CUDA first where asked and installed, CPU always."""
    available = ort.get_available_providers()
    chosen = ["CUDAExecutionProvider"] if device == "cuda" and "CUDAExecutionProvider" in available else []
    return [*chosen, "CPUExecutionProvider"]


class OnnxEngine:
    """One ORT session over a graph, with every graph optimisation on."""

    def __init__(self, graph: bytes, threads: int, device: str = "cpu") -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(graph, options, providers=providers(device))
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.providers = self.session.get_providers()

    def run(self, tensors: tuple[torch.Tensor, ...]) -> torch.Tensor:
        feed: dict[str, Any] = {
            name: t.detach().cpu().numpy() for name, t in zip(self.inputs, tensors, strict=True)
        }
        [out] = self.session.run(None, feed)
        return torch.from_numpy(np.asarray(out))
