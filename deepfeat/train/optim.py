"""Optimizers, schedulers and the L1/L2 penalties, built from the training spec."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from deepfeat.specs.training import AdamSpec, OptimizerSpec, RMSpropSpec, SchedulerSpec, SGDSpec

LRScheduler = torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau


def build_optimizer(params: list[nn.Parameter], spec: OptimizerSpec) -> torch.optim.Optimizer:
    groups = param_groups(params, spec.lr)
    if isinstance(spec, SGDSpec):
        return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum, nesterov=spec.nesterov)
    if isinstance(spec, AdamSpec):
        cls = torch.optim.AdamW if spec.name == "adamw" else torch.optim.Adam
        return cls(groups, lr=spec.lr, betas=spec.betas, weight_decay=spec.weight_decay)
    if isinstance(spec, RMSpropSpec):
        return torch.optim.RMSprop(groups, lr=spec.lr, alpha=spec.alpha, momentum=spec.momentum)
    raise AssertionError(f"unhandled optimizer {spec!r}")


def param_groups(params: list[nn.Parameter], lr: float) -> list[dict[str, Any]]:
    """One group per `lr_multiplier` a model set on its parameters (a transfer model's encoder trains
    slower than its head); plain parameters form the first group, whose lr the logs report."""
    by_multiplier: dict[float, list[nn.Parameter]] = {}
    for p in params:
        by_multiplier.setdefault(float(getattr(p, "lr_multiplier", 1.0)), []).append(p)
    order = sorted(by_multiplier, key=lambda m: m != 1.0)
    return [{"params": by_multiplier[m], "lr": lr * m} for m in order]


def build_scheduler(
    optimizer: torch.optim.Optimizer, spec: SchedulerSpec | None, epochs: int, steps_per_epoch: int
) -> tuple[LRScheduler | None, bool]:
    """The scheduler and whether it steps per batch (True) or per epoch (False)."""
    if spec is None:
        return None, False
    sched = torch.optim.lr_scheduler
    if spec.name == "step":
        return sched.StepLR(optimizer, step_size=spec.step_size, gamma=spec.gamma), False
    if spec.name == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch), True
    if spec.name == "plateau":
        return sched.ReduceLROnPlateau(optimizer, factor=spec.gamma, patience=spec.patience), False
    base_lr = optimizer.param_groups[0]["lr"]
    max_lr = spec.max_lr or 10 * base_lr
    max_lrs = [max_lr * group["lr"] / base_lr for group in optimizer.param_groups]  # keep multipliers
    return sched.OneCycleLR(optimizer, max_lr=max_lrs, total_steps=epochs * steps_per_epoch), True


def penalised_weights(model: nn.Module) -> list[torch.Tensor]:
    """Weight matrices and kernels (dim ≥ 2): L1/L2 leave biases and normalisation scales alone."""
    return [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]


def penalty(weights: list[torch.Tensor], l1: float, l2: float) -> torch.Tensor | None:
    if not weights or (l1 == 0 and l2 == 0):
        return None
    total = torch.zeros((), device=weights[0].device)
    for w in weights:
        if l1:
            total = total + l1 * w.abs().sum()
        if l2:
            total = total + 0.5 * l2 * (w * w).sum()
    return total
