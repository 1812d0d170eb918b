"""What a spec costs before it runs: parameters, FLOPs, output shape and a memory estimate."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deepfeat.nn.blocks import flat_size
from deepfeat.nn.registry import DeepfeatModel

BYTES_PER_FLOAT = 4


@dataclass(frozen=True)
class ModelReport:
    params: int
    trainable_params: int
    flops: int
    output_shape: list[int]
    memory_estimate: int


def inspect_model(model: DeepfeatModel, input_shape: list[int], batch_size: int) -> ModelReport:
    """Run one sample through `model` in eval mode, counting multiply-adds and activation sizes."""
    flops = 0
    activations = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal flops, activations
        if isinstance(output, torch.Tensor):
            activations += output.numel()
        if isinstance(module, nn.Linear):
            flops += 2 * module.in_features * module.out_features
        elif isinstance(module, nn.Conv1d | nn.Conv2d):
            kernel = module.weight[0].numel()  # in_channels/groups × kernel area
            flops += 2 * kernel * output.numel()

    hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, *input_shape))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # weights + grads + two Adam moments, plus activations kept for backward at this batch size.
    memory = BYTES_PER_FLOAT * (4 * params + batch_size * (activations + 2 * flat_size(input_shape)))
    return ModelReport(params, trainable, flops, list(out.shape[1:]), memory)
