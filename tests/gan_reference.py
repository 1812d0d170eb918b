"""A plain hand-written GAN loop, the yardstick deepfeat's GAN is held to (tests and bench/gan.py).

Nothing from deepfeat's training code: its own networks (built the way `GANSpec` describes them), its
own scaling, Adam, shuffled batches and the textbook step (PyTorch's DCGAN example): D on a real batch
plus a detached fake batch, then G through D with the non-saturating loss. Only the measuring device,
`Quality`, is shared, so both are scored on the same scale. `scaling` picks how data meets the output:
`standard` (standardised data, linear output) or `minmax` (data in [-1, 1], tanh output).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from deepfeat.train.gan_quality import Quality


@dataclass(frozen=True)
class ReferenceResult:
    samples: torch.Tensor  # in data units, as many as the validation reference holds
    quality: dict[str, float]
    samples_per_s: float


def mlp(widths: list[int], act: type[nn.Module], batchnorm: bool, dropout: float) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), *([nn.BatchNorm1d(b)] if batchnorm else []), act()]
        layers += [nn.Dropout(dropout)] if dropout else []
    return layers


def train_reference(
    train_x: np.ndarray,
    val_x: np.ndarray,
    *,
    seed: int,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    latent_dim: int = 32,
    g_hidden: tuple[int, ...] = (128, 128),
    d_hidden: tuple[int, ...] = (128, 128),
    d_dropout: float = 0.2,
    scaling: Literal["standard", "minmax"] = "standard",
) -> ReferenceResult:
    """Train on `train_x` (N × features, or N × C×H×W images: flattened for the MLPs, scored as images),
    sample in eval mode, score against `val_x`."""

    torch.manual_seed(seed)
    x = torch.as_tensor(train_x, dtype=torch.float32).flatten(1)
    if scaling == "standard":
        # A constant feature (an always-black pixel) keeps scale 1 rather than dividing by ~0.
        shift, scale = x.mean(0), torch.where(x.std(0) > 1e-6, x.std(0), 1.0)
        to_model = lambda v: (v - shift) / scale  # noqa: E731
        from_model = lambda v: v * scale + shift  # noqa: E731
    else:
        low, high = x.amin(0), x.amax(0)
        span = torch.where(high - low > 1e-6, high - low, 1.0)
        to_model = lambda v: (v - low) / span * 2 - 1  # noqa: E731
        from_model = lambda v: (v + 1) / 2 * span + low  # noqa: E731
    features = x.shape[1]
    g = nn.Sequential(
        *mlp([latent_dim, *g_hidden], nn.ReLU, batchnorm=True, dropout=0.0),
        nn.Linear(g_hidden[-1], features),
        *([nn.Tanh()] if scaling == "minmax" else []),
    )
    d = nn.Sequential(*mlp([features, *d_hidden], nn.LeakyReLU, False, d_dropout), nn.Linear(d_hidden[-1], 1))
    g_opt = torch.optim.Adam(g.parameters(), lr=lr, betas=betas)
    d_opt = torch.optim.Adam(d.parameters(), lr=lr, betas=betas)
    data = to_model(x)
    order = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    for _ in range(epochs):
        for idx in torch.randperm(len(data), generator=order).split(batch_size):
            real = data[idx]
            n = len(real)
            fake = g(torch.randn(n, latent_dim))
            d_loss = F.binary_cross_entropy_with_logits(
                d(real).squeeze(1), torch.ones(n)
            ) + F.binary_cross_entropy_with_logits(d(fake.detach()).squeeze(1), torch.zeros(n))
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
            g_loss = F.binary_cross_entropy_with_logits(d(fake).squeeze(1), torch.ones(n))
            g_opt.zero_grad()
            g_loss.backward()
            g_opt.step()
    elapsed = time.perf_counter() - started
    shape = tuple(train_x.shape[1:])
    quality = Quality(torch.as_tensor(val_x, dtype=torch.float32), image=len(shape) == 3)
    g.eval()
    with torch.no_grad():
        noise = torch.randn(quality.n, latent_dim, generator=torch.Generator().manual_seed(0))
        samples = from_model(g(noise)).reshape(-1, *shape)
    return ReferenceResult(samples, quality.measure(samples), len(data) * epochs / elapsed)
