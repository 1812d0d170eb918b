"""The loop with a gradient scaler (fp16 autocast on CUDA uses one): the L1/L2 penalty must survive the
unscaling, and learning-health gradient norms are the true ones, measured before clipping."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from deepfeat.specs.training import TrainingSpec
from deepfeat.train.device import Placement
from deepfeat.train.loop import Tensors, fit
from deepfeat.train.objectives import Regression


class Recorder:
    def __init__(self) -> None:
        self.metrics: list[dict[str, float]] = []
        self.warnings: list[str] = []

    def epoch_end(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        self.metrics.append(metrics)

    def warn(self, message: str, data: dict[str, Any]) -> None:
        self.warnings.append(message)

    def artifact(self, name: str, content: bytes, media_type: str) -> None:
        pass

    def should_stop(self) -> bool:
        return False


def data(n: int = 32, scale: float = 1.0) -> Tensors:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=generator) * scale
    return Tensors(x, x.sum(1) * scale)


def one_step(place: Placement, **training: Any) -> tuple[nn.Module, Recorder]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 1))
    spec = TrainingSpec.model_validate(
        {"epochs": 1, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.1}, "seed": 0, **training}
    )
    reporter = Recorder()
    fit(model, Regression(), data(), data(8), spec, reporter, place=place)
    return model, reporter


def test_l2_penalty_is_the_same_with_a_gradient_scaler() -> None:
    plain = Placement(torch.device("cpu"), None, None)
    scaled = Placement(torch.device("cpu"), None, torch.amp.GradScaler("cpu", init_scale=65536.0))
    without, _ = one_step(plain, l2=1.0)
    with_scaler, _ = one_step(scaled, l2=1.0)
    no_penalty, _ = one_step(plain)
    weight = next(without.parameters()).detach()
    assert not torch.allclose(weight, next(no_penalty.parameters()).detach())  # the penalty acts at all
    assert torch.allclose(next(with_scaler.parameters()).detach(), weight, atol=1e-5)


def test_gradient_norms_are_measured_before_clipping() -> None:
    place = Placement(torch.device("cpu"), None, None)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 1))
    spec = TrainingSpec.model_validate(
        {"epochs": 1, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 1e-9}, "grad_clip_norm": 1e-3}
    )
    reporter = Recorder()
    fit(model, Regression(), data(scale=1e3), data(8), spec, reporter, place=place)
    norm = reporter.metrics[-1]["grad_norm/0"]
    assert norm > 1e3  # the true norm of a huge loss, not the clipped 1e-3
    assert any("exploding gradients" in w for w in reporter.warnings)
