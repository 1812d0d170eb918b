"""`:validate`'s FLOPs count every layer kind (torch.utils.flop_counter), and its memory estimate
follows the optimizer and the precision."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from deepfeat.nn.inspect import StepCost, inspect_model
from deepfeat.specs.training import TrainingSpec
from deepfeat.train.setup import step_cost


class Last(nn.Module):
    """A recurrent layer's output at the last step (LSTM/GRU return tuples)."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.rnn(x)[0]
        return out[:, -1]


class SelfAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(16, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.attention(x, x, x, need_weights=False)[0]
        return out


STEPS, IN, HIDDEN = 5, 8, 16


@pytest.mark.parametrize(
    ("model", "shape", "flops"),
    [
        # 2 × multiply-adds: per step, gates × hidden × (input + hidden)
        (Last(nn.LSTM(IN, HIDDEN, batch_first=True)), [STEPS, IN], 2 * STEPS * 4 * HIDDEN * (IN + HIDDEN)),
        (Last(nn.GRU(IN, HIDDEN, batch_first=True)), [STEPS, IN], 2 * STEPS * 3 * HIDDEN * (IN + HIDDEN)),
        # every input pixel meets every kernel weight
        (nn.ConvTranspose2d(4, 8, 3), [4, 6, 6], 2 * 4 * 6 * 6 * 8 * 3 * 3),
        # q/k/v and output projections, then q·kᵀ and attention·v
        (SelfAttention(), [STEPS, 16], 2 * STEPS * 16 * 16 * 4 + 2 * 2 * STEPS * STEPS * 16),
    ],
    ids=["lstm", "gru", "conv_transpose", "attention"],
)
def test_flops_of_recurrent_transposed_and_attention_layers(model: Any, shape: list[int], flops: int) -> None:
    report = inspect_model(model, shape, batch_size=1)
    assert report.flops == flops
    assert model.training  # left as found


def test_inspection_changes_no_state() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inspect_model(model, [4], batch_size=8)  # type: ignore[arg-type]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def training(**fields: Any) -> TrainingSpec:
    return TrainingSpec.model_validate(fields)


def test_memory_estimate_follows_optimizer_and_precision() -> None:
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    params = sum(p.numel() for p in model.parameters())

    def memory(**fields: Any) -> int:
        return inspect_model(model, [64], 32, step_cost(training(**fields))).memory_estimate  # type: ignore[arg-type]

    sgd = memory(optimizer={"name": "sgd"})
    momentum = memory(optimizer={"name": "sgd", "momentum": 0.9})
    adam = memory(optimizer={"name": "adam"})
    assert momentum - sgd == 4 * params  # one buffer per weight
    assert adam - sgd == 2 * 4 * params  # two moments
    assert memory(optimizer={"name": "rmsprop", "momentum": 0.9}) == adam
    half = memory(optimizer={"name": "adam"}, precision="bf16")
    assert half < adam
    assert adam - half == 32 * 2 * (256 + 256 + 10)  # activations kept at 2 bytes instead of 4
    assert step_cost(training(precision="fp16")) == StepCost(step_cost(training()).optimizer_states, 2)
