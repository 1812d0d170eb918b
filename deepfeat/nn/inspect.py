"""What a spec costs before it runs: parameters, FLOPs, output shape and a memory estimate."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

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


@dataclass(frozen=True)
class StepCost:
    """What one training step keeps besides the activations: optimizer state and activation precision."""

    optimizer_states: int = 2  # tensors per parameter (Adam: two moments; SGD with momentum: one)
    activation_bytes: int = BYTES_PER_FLOAT  # 2 under bf16/fp16 autocast


def _cpu_attention_flops(query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> int:
    return int(sdpa_flop_count(query, key, value))


# flop_counter knows the CUDA attention kernels; on CPU scaled_dot_product_attention runs this one.
_CPU_ATTENTION = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops}


@contextmanager
def _countable() -> Iterator[None]:
    """Take the plain-ATen paths FlopCounterMode sees: oneDNN's fused LSTM and the no-grad attention
    fast path are single opaque kernels it counts as zero."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
        with torch.backends.mkldnn.flags(enabled=False), torch.enable_grad():
            yield


def inspect_model(
    model: DeepfeatModel, input_shape: list[int], batch_size: int, cost: StepCost | None = None
) -> ModelReport:
    """Run one sample through `model` in eval mode: FLOPs from torch.utils.flop_counter (2 × multiply-
    adds of matmuls, convolutions, transposed convolutions, recurrent cells and attention), and
    activation sizes for the memory of one step at `batch_size`."""
    cost = cost or StepCost()
    activations = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal activations
        if isinstance(output, torch.Tensor):
            activations += output.numel()

    hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    was_training = model.training
    model.eval()
    try:
        with _countable(), FlopCounterMode(display=False, custom_mapping=_CPU_ATTENTION) as counter:
            out = model(torch.zeros(1, *input_shape)).detach()
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # fp32 weights and gradients, the optimizer's state per trainable weight, and the activations kept
    # for backward (at the autocast precision) plus the input batch.
    state = BYTES_PER_FLOAT * (params + trainable * (1 + cost.optimizer_states))
    kept = batch_size * (cost.activation_bytes * activations + BYTES_PER_FLOAT * 2 * flat_size(input_shape))
    return ModelReport(params, trainable, int(counter.get_total_flops()), list(out.shape[1:]), state + kept)
