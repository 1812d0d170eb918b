"""Building blocks shared by every family: activations and weight initialisation."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}

# torch.nn.init.calculate_gain knows relu/leaky_relu/tanh/sigmoid; the smooth ReLU-likes use relu's.
_GAIN_NONLINEARITY = {
    "relu": "relu",
    "leaky_relu": "leaky_relu",
    "elu": "relu",
    "gelu": "relu",
    "silu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
}


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def initialise(module: nn.Module, scheme: str, activation_name: str) -> None:
    """Apply `scheme` to every weight matrix/kernel in `module`, with the gain of its activation; zero biases.

    `default` keeps PyTorch's own initialisation untouched.
    """
    if scheme == "default":
        return
    nonlinearity = _GAIN_NONLINEARITY[activation_name]
    gain = nn.init.calculate_gain(nonlinearity)  # type: ignore[arg-type]
    for sub in module.modules():
        weight = getattr(sub, "weight", None)
        if not isinstance(sub, nn.Linear | nn.Conv1d | nn.Conv2d) or weight is None:
            continue
        if scheme == "xavier_uniform":
            nn.init.xavier_uniform_(weight, gain=gain)
        elif scheme == "xavier_normal":
            nn.init.xavier_normal_(weight, gain=gain)
        elif scheme == "he_uniform":
            nn.init.kaiming_uniform_(weight, nonlinearity=_kaiming(nonlinearity))
        elif scheme == "he_normal":
            nn.init.kaiming_normal_(weight, nonlinearity=_kaiming(nonlinearity))
        elif scheme == "orthogonal":
            nn.init.orthogonal_(weight, gain=gain)
        else:
            raise ValueError(f"unknown init {scheme!r}")
        if sub.bias is not None:
            nn.init.zeros_(sub.bias)


def _kaiming(nonlinearity: str) -> Literal["relu", "leaky_relu", "linear"]:
    # He init is derived for rectifiers; for saturating units fall back to the linear gain of 1·√2/√2.
    if nonlinearity == "relu":
        return "relu"
    return "leaky_relu" if nonlinearity == "leaky_relu" else "linear"


def flat_size(shape: list[int]) -> int:
    return math.prod(shape)


class InputNorm(nn.Module):
    """Standardises inputs with statistics of the training split, kept in the weights file so a served
    model needs nothing else to preprocess numeric inputs."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, input_shape: list[int]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(input_shape))
        self.register_buffer("std", torch.ones(input_shape))

    def fit(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(dim=0))
        # Constant features (an always-black pixel) would divide by zero; leave their scale alone.
        self.std.copy_(torch.where(x.std(dim=0) > 1e-6, x.std(dim=0), torch.ones_like(self.std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std
