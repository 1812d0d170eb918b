"""`cnn`: convolution blocks then a dense head. 2-D on images, 1-D on sequences and flat features.

Shapes are worked out here, before any tensor exists, so a spec whose feature map would vanish is
refused with the block that kills it rather than failing inside a worker.
"""

from __future__ import annotations

import torch
from torch import nn

from deepfeat.errors import SpecError
from deepfeat.nn.blocks import InputNorm, activation, dense_stack, initialise
from deepfeat.nn.registry import BuildContext, DeepfeatModel, register
from deepfeat.specs.model import CNNSpec


def conv_layout(input_shape: list[int]) -> tuple[int, list[int]]:
    """(in_channels, spatial sizes) for an input shape: C×H×W → 2-D, T×F → 1-D over T with F channels,
    F → 1-D over F with one channel."""
    if len(input_shape) == 3:
        return input_shape[0], input_shape[1:]
    if len(input_shape) == 2:
        return input_shape[1], input_shape[:1]
    if len(input_shape) == 1:
        return 1, input_shape
    raise SpecError("/model/type", f"cnn cannot read inputs of shape {input_shape}")


def _out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class CNN(DeepfeatModel):
    def __init__(self, spec: CNNSpec, input_shape: list[int], output_dim: int) -> None:
        super().__init__()
        self.input_norm = InputNorm(input_shape)
        self.input_shape = input_shape
        channels, sizes = conv_layout(input_shape)
        two_d = len(sizes) == 2
        conv = nn.Conv2d if two_d else nn.Conv1d
        norm = nn.BatchNorm2d if two_d else nn.BatchNorm1d
        pools = {
            "max": nn.MaxPool2d if two_d else nn.MaxPool1d,
            "avg": nn.AvgPool2d if two_d else nn.AvgPool1d,
        }
        blocks: list[nn.Module] = []
        for i, width in enumerate(spec.channels):
            padding = (
                spec.kernel_size // 2
                if spec.padding == "same"
                else 0
                if spec.padding == "valid"
                else spec.padding
            )
            sizes = [_out(s, spec.kernel_size, spec.stride, padding) for s in sizes]
            self._check(sizes, i, input_shape, spec, "convolution")
            blocks += [conv(channels, width, spec.kernel_size, spec.stride, padding)]
            if spec.batchnorm:
                blocks.append(norm(width))
            blocks.append(activation(spec.activation))
            if spec.pool is not None:
                sizes = [s // spec.pool_size for s in sizes]
                self._check(sizes, i, input_shape, spec, f"{spec.pool}-pool")
                blocks.append(pools[spec.pool](spec.pool_size))
            if spec.dropout > 0:
                blocks.append(nn.Dropout(spec.dropout))
            channels = width
        if spec.global_pool:
            blocks.append(nn.AdaptiveAvgPool2d(1) if two_d else nn.AdaptiveAvgPool1d(1))
            sizes = [1 for _ in sizes]
        self.conv = nn.Sequential(*blocks, nn.Flatten())
        flat = channels
        for s in sizes:
            flat *= s
        self.dense, width = dense_stack(flat, spec.hidden, spec)
        self.head = nn.Linear(width, output_dim)
        self.embedding_dim = width
        initialise(self, spec.init, spec.activation)

    @staticmethod
    def _check(sizes: list[int], i: int, input_shape: list[int], spec: CNNSpec, what: str) -> None:
        if min(sizes) >= 1:
            return
        shape = "×".join(str(max(s, 0)) for s in sizes)
        source = "×".join(str(s) for s in conv_layout(input_shape)[1])
        raise SpecError(
            f"/model/channels/{i}",
            f"feature map shrinks to {shape} after {i + 1} {what}s on {source} input: "
            "use fewer blocks, more padding, or pool: null",
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(x)
        if len(self.input_shape) == 2:
            x = x.transpose(1, 2)  # N×T×F → N×F×T: features are channels
        elif len(self.input_shape) == 1:
            x = x.unsqueeze(1)
        out: torch.Tensor = self.dense(self.conv(x))
        return out

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(features)
        return out


@register("cnn", tasks=("classification", "regression"))
def build_cnn(
    spec: CNNSpec, input_shape: list[int], output_dim: int, _context: BuildContext
) -> DeepfeatModel:
    return CNN(spec, input_shape, output_dim)
