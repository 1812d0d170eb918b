"""`mlp`: dense layers with optional normalisation and dropout; the last hidden layer is the embedding."""

from __future__ import annotations

import torch
from torch import nn

from deepfeat.nn.blocks import InputNorm, dense_stack, flat_size, initialise
from deepfeat.nn.registry import BuildContext, DeepfeatModel, register
from deepfeat.specs.model import MLPSpec


class MLP(DeepfeatModel):
    def __init__(self, spec: MLPSpec, input_shape: list[int], output_dim: int) -> None:
        super().__init__()
        self.input_norm = InputNorm(input_shape)
        stack, width = dense_stack(flat_size(input_shape), spec.hidden, spec)
        self.features = nn.Sequential(nn.Flatten(), *stack)
        self.head = nn.Linear(width, output_dim)
        self.embedding_dim = width
        initialise(self, spec.init, spec.activation)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.features(self.input_norm(x))
        return out

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(features)
        return out


@register("mlp", tasks=("classification", "regression"))
def build_mlp(
    spec: MLPSpec, input_shape: list[int], output_dim: int, _context: BuildContext
) -> DeepfeatModel:
    return MLP(spec, input_shape, output_dim)
