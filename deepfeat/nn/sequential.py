"""`sequential`: an explicit list of layers, checked layer by layer against the per-sample shape.

Each layer's output shape is computed as it is added, so a mistake is reported at its index
(`/model/layers/3: conv2d needs C×H×W input, got [64]`) rather than as a matrix-size error in a worker.
"""

from __future__ import annotations

import torch
from torch import nn

from deepfeat.errors import SpecError
from deepfeat.nn.blocks import InputNorm, activation, flat_size, initialise
from deepfeat.nn.registry import BuildContext, DeepfeatModel, register
from deepfeat.specs.model import (
    ActivationLayer,
    ConvLayer,
    DropoutLayer,
    EmbeddingLayer,
    FlattenLayer,
    LayerSpec,
    LinearLayer,
    NormLayer,
    PoolLayer,
    RecurrentLayer,
    ReshapeLayer,
    SequentialSpec,
)


class Recurrent(nn.Module):
    """LSTM/GRU that returns the whole output sequence or only its last step."""

    def __init__(self, spec: RecurrentLayer, features: int) -> None:
        super().__init__()
        cell = nn.LSTM if spec.layer == "lstm" else nn.GRU
        self.rnn = cell(
            features, spec.hidden_size, spec.num_layers, batch_first=True, bidirectional=spec.bidirectional
        )
        self.last = spec.output == "last"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.rnn(x)[0]
        return out[:, -1] if self.last else out


class Reshape(nn.Module):
    def __init__(self, shape: list[int]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


def _layer(spec: LayerSpec, shape: list[int]) -> tuple[nn.Module, list[int]]:
    """The module for `spec` on per-sample `shape`, and its output shape; ValueError when they don't fit."""
    if isinstance(spec, LinearLayer):
        return nn.Linear(shape[-1], spec.out_features), [*shape[:-1], spec.out_features]
    if isinstance(spec, ConvLayer):
        dims = 1 if spec.layer == "conv1d" else 2
        if len(shape) != dims + 1:
            raise ValueError(f"{spec.layer} needs {'C×T' if dims == 1 else 'C×H×W'} input, got {shape}")
        sizes = [(s + 2 * spec.padding - spec.kernel_size) // spec.stride + 1 for s in shape[1:]]
        if min(sizes) < 1:
            raise ValueError(f"kernel {spec.kernel_size} does not fit a {'×'.join(map(str, shape[1:]))} map")
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        return conv(shape[0], spec.out_channels, spec.kernel_size, spec.stride, spec.padding), [
            spec.out_channels,
            *sizes,
        ]
    if isinstance(spec, PoolLayer):
        dims = int(spec.layer[-2])
        if len(shape) != dims + 1:
            raise ValueError(f"{spec.layer} needs {dims + 1}-D input, got {shape}")
        sizes = [s // spec.kernel_size for s in shape[1:]]
        if min(sizes) < 1:
            raise ValueError(f"pooling by {spec.kernel_size} empties a {'×'.join(map(str, shape[1:]))} map")
        pool = {"max1": nn.MaxPool1d, "max2": nn.MaxPool2d, "avg1": nn.AvgPool1d, "avg2": nn.AvgPool2d}
        return pool[spec.layer[:3] + str(dims)](spec.kernel_size), [shape[0], *sizes]
    if isinstance(spec, RecurrentLayer):
        if len(shape) != 2:
            raise ValueError(f"{spec.layer} needs T×F input, got {shape}")
        width = spec.hidden_size * (2 if spec.bidirectional else 1)
        return Recurrent(spec, shape[1]), [width] if spec.output == "last" else [shape[0], width]
    if isinstance(spec, EmbeddingLayer):
        return nn.Embedding(spec.num_embeddings, spec.embedding_dim), [*shape, spec.embedding_dim]
    if isinstance(spec, DropoutLayer):
        return nn.Dropout(spec.p), shape
    if isinstance(spec, NormLayer):
        if spec.layer == "layernorm":
            return nn.LayerNorm(shape[-1]), shape
        norms = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d}
        if len(shape) not in norms:
            raise ValueError(f"batchnorm needs F, C×T or C×H×W input, got {shape}")
        return norms[len(shape)](shape[0]), shape
    if isinstance(spec, ActivationLayer):
        return activation(spec.name), shape
    if isinstance(spec, FlattenLayer):
        return nn.Flatten(), [flat_size(shape)]
    if isinstance(spec, ReshapeLayer):
        if flat_size(spec.shape) != flat_size(shape):
            raise ValueError(f"cannot reshape {shape} ({flat_size(shape)} values) to {spec.shape}")
        return Reshape(spec.shape), list(spec.shape)
    raise AssertionError(f"unhandled layer {spec!r}")


class Sequential(DeepfeatModel):
    def __init__(self, spec: SequentialSpec, input_shape: list[int], output_dim: int) -> None:
        super().__init__()
        tokens = isinstance(spec.layers[0], EmbeddingLayer)
        self.input_norm = InputNorm(input_shape, mode="none" if tokens else "standard")
        self.tokens = tokens
        modules: list[nn.Module] = []
        shape = list(input_shape)
        for i, layer in enumerate(spec.layers):
            if isinstance(layer, EmbeddingLayer) and i > 0:
                raise SpecError(
                    f"/model/layers/{i}", "an embedding layer must come first (it reads token ids)"
                )
            try:
                module, shape = _layer(layer, shape)
            except ValueError as exc:
                raise SpecError(f"/model/layers/{i}", str(exc)) from None
            modules.append(module)
        if len(shape) != 1:
            modules.append(nn.Flatten())  # the head reads one vector per sample
        self.features = nn.Sequential(*modules)
        self.embedding_dim = flat_size(shape)
        self.head = nn.Linear(self.embedding_dim, output_dim)
        initialise(self, spec.init, spec.init_activation)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(x)
        out: torch.Tensor = self.features(x.long() if self.tokens else x)
        return out

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(features)
        return out


@register("sequential", tasks=("classification", "regression"))
def build_sequential(
    spec: SequentialSpec, input_shape: list[int], output_dim: int, _context: BuildContext
) -> DeepfeatModel:
    return Sequential(spec, input_shape, output_dim)
