"""A registered encoder as files others can load: `model.safetensors` (the run's weights, as trained)
or `model.onnx` (only the encoder part), each zipped with `spec.json` describing input and output.

ONNX graphs hold exactly what `/embed` computes with its defaults (`pool: mean`, no normalisation):
the registered layer (or `forward_features`), mean-pooled over positions when that output has more
than two dimensions, so an ONNX runtime answers the vectors the service serves.
"""

from __future__ import annotations

import importlib
import io
import json
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepfeat.errors import DeepfeatError

FORMATS = ("safetensors", "onnx")


class ExportUnavailable(DeepfeatError):
    """This server cannot produce the format (its optional packages are not installed): 501, since no
    retry or change of the request helps; another format or server does."""

    status_code = 501
    error = "export_unavailable"


def onnx_available() -> bool:
    try:
        importlib.import_module("onnx")
        importlib.import_module("onnxscript")
    except ImportError:
        return False
    return True


class EncoderGraph(nn.Module):
    """The encoder part of a trained network: input → the layer's (or forward_features') output,
    mean-pooled over positions like `/embed`'s default (`pooled=False`: the output as is, which the
    serving engine pools itself, so every `pool` reads the same graph)."""

    def __init__(self, model: nn.Module, layer: str | None, pooled: bool = True) -> None:
        super().__init__()
        self.model = model
        self.layer = layer
        self.pooled = pooled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layer is None:
            out: torch.Tensor = self.model.forward_features(x)  # type: ignore[operator]
        else:
            captured: list[torch.Tensor] = []
            module = dict(self.model.named_modules())[self.layer]
            handle = module.register_forward_hook(
                lambda _m, _a, o: captured.append(o[0] if isinstance(o, tuple | list) else o)
            )
            try:
                self.model(x)
            finally:
                handle.remove()
            out = captured[0]
        if not self.pooled:
            return out
        if out.dim() == 3:
            return out.mean(1)
        if out.dim() > 3:
            return out.flatten(2).mean(2)
        return out.reshape(out.shape[0], -1)


def onnx_bytes(model: nn.Module, layer: str | None, input_shape: list[int]) -> bytes:
    """The encoder graph as ONNX (opset of torch's exporter), batch dimension dynamic."""
    if not onnx_available():
        raise ExportUnavailable(
            "ONNX export needs the `onnx` and `onnxscript` packages on the server "
            "(pip install 'deepfeat[onnx]'); format=safetensors works without them"
        )
    graph = EncoderGraph(model, layer).eval()
    example = torch.zeros(2, *input_shape)
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's own deprecation noise; failures still raise
        program = torch.onnx.export(
            graph,
            (example,),
            dynamo=True,
            input_names=["input"],
            output_names=["embedding"],
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
        )
        assert program is not None
        target = Path(folder) / "model.onnx"
        program.save(str(target))
        return target.read_bytes()


def bundle(model_name: str, model_bytes: bytes, spec: dict[str, Any]) -> bytes:
    """A zip of the model file and `spec.json` (stored, not compressed: weights barely shrink)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(model_name, model_bytes)
        archive.writestr("spec.json", json.dumps(spec, indent=2, sort_keys=True, default=str))
    return buffer.getvalue()
