"""Building blocks shared by every family: activations, initialisation, dense stacks, input scaling."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from deepfeat.specs.model import DenseOptions

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
_INIT_TARGETS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def initialise(module: nn.Module, scheme: str, activation_name: str) -> None:
    """Apply `scheme` to every weight matrix/kernel in `module`, with the gain of its activation; zero biases.

    `default` keeps PyTorch's own initialisation untouched. Recurrent weights get the same scheme per gate
    matrix (orthogonal is the usual choice there).
    """
    if scheme == "default":
        return
    nonlinearity = _GAIN_NONLINEARITY[activation_name]
    gain = nn.init.calculate_gain(nonlinearity)  # type: ignore[arg-type]
    for sub in module.modules():
        if isinstance(sub, _INIT_TARGETS):
            _init_weight(sub.weight, scheme, nonlinearity, gain)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.RNNBase):
            for name, param in sub.named_parameters():
                if name.startswith("weight"):
                    _init_weight(param, scheme, "tanh", nn.init.calculate_gain("tanh"))
                else:
                    nn.init.zeros_(param)


def _init_weight(weight: torch.Tensor, scheme: str, nonlinearity: str, gain: float) -> None:
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


def _kaiming(nonlinearity: str) -> Literal["relu", "leaky_relu", "linear"]:
    # He init is derived for rectifiers; saturating units get the linear gain.
    if nonlinearity == "relu":
        return "relu"
    return "leaky_relu" if nonlinearity == "leaky_relu" else "linear"


def flat_size(shape: list[int]) -> int:
    return math.prod(shape)


def dense_stack(width: int, sizes: list[int], opts: DenseOptions) -> tuple[nn.Sequential, int]:
    """Linear → norm → activation → dropout per size; returns the stack and its output width."""
    layers: list[nn.Module] = []
    for size in sizes:
        layers.append(nn.Linear(width, size))
        if opts.batchnorm:
            layers.append(nn.BatchNorm1d(size))
        if opts.layernorm:
            layers.append(nn.LayerNorm(size))
        layers.append(activation(opts.activation))
        if opts.dropout > 0:
            layers.append(nn.Dropout(opts.dropout))
        width = size
    return nn.Sequential(*layers), width


class InputNorm(nn.Module):
    """Scales inputs with statistics of the training split, kept in the weights file so a served model needs
    nothing else to preprocess numeric inputs. `standard`: zero mean, unit variance; `minmax`: into [0, 1]
    (what a sigmoid output reconstructs); `none`: token ids and other inputs that must pass untouched."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self, input_shape: list[int], mode: Literal["standard", "minmax", "none"] = "standard"
    ) -> None:
        super().__init__()
        self.mode = mode
        self.register_buffer("mean", torch.zeros(input_shape))
        self.register_buffer("std", torch.ones(input_shape))

    def fit(self, x: torch.Tensor) -> None:
        if self.mode == "none":
            return
        if self.mode == "minmax":
            low, high = x.amin(dim=0), x.amax(dim=0)
            self.mean.copy_(low)
            self.std.copy_(torch.where(high - low > 1e-6, high - low, torch.ones_like(self.std)))
            return
        self.mean.copy_(x.mean(dim=0))
        # Constant features (an always-black pixel) would divide by zero; leave their scale alone.
        std = x.std(dim=0)
        self.std.copy_(torch.where(std > 1e-6, std, torch.ones_like(self.std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "none":
            return x
        return (x - self.mean) / self.std


class Noise(nn.Module):
    """Corrupts inputs while training (denoising autoencoders); the identity in eval mode."""

    def __init__(self, kind: str, level: float) -> None:
        super().__init__()
        self.kind, self.level = kind, level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if self.kind == "mask":
            return x * (torch.rand_like(x) >= self.level).to(x.dtype)
        return x + self.level * torch.randn_like(x)
