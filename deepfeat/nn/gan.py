"""`gan`: a generator from noise to samples and a discriminator that tells real from generated.

Samples are learnt in [-1, 1] (tanh output) on min-max-scaled data; `generate` maps them back to the
data's own range. The discriminator's last hidden layer is the embedding (`forward_features`).
"""

from __future__ import annotations

import torch
from torch import nn

from deepfeat.errors import SpecError
from deepfeat.nn.blocks import InputNorm, activation, flat_size, initialise
from deepfeat.nn.registry import BuildContext, DeepfeatModel, register
from deepfeat.specs.model import GANSpec, NetworkSpec


def _mlp(width: int, net: NetworkSpec, norm: bool) -> tuple[list[nn.Module], int]:
    layers: list[nn.Module] = []
    for size in net.hidden:
        layers.append(nn.Linear(width, size))
        if norm and net.batchnorm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(activation(net.activation))
        if net.dropout > 0:
            layers.append(nn.Dropout(net.dropout))
        width = size
    return layers, width


class GAN(DeepfeatModel):
    def __init__(self, spec: GANSpec, input_shape: list[int], output_dim: int) -> None:
        super().__init__()
        self.input_shape, self.latent_dim = input_shape, spec.latent_dim
        self.input_norm = InputNorm(input_shape, mode="minmax")
        if spec.style == "dcgan":
            self._dcgan(spec, input_shape)
        else:
            g_layers, g_width = _mlp(spec.latent_dim, spec.generator, norm=True)
            self.generator = nn.Sequential(*g_layers, nn.Linear(g_width, flat_size(input_shape)), nn.Tanh())
            d_layers, d_width = _mlp(flat_size(input_shape), spec.discriminator, norm=False)
            self.disc_features = nn.Sequential(nn.Flatten(), *d_layers)
            self.embedding_dim = d_width
        self.disc_head = nn.Linear(self.embedding_dim, 1)
        initialise(self, spec.init, "leaky_relu")

    def _dcgan(self, spec: GANSpec, input_shape: list[int]) -> None:
        if len(input_shape) != 3 or input_shape[1] % 4 or input_shape[2] % 4:
            raise SpecError(
                "/model/style", f"dcgan needs C×H×W images with H and W divisible by 4, not {input_shape}"
            )
        channels, h, w = input_shape
        self.generator = nn.Sequential(
            nn.Linear(spec.latent_dim, 128 * (h // 4) * (w // 4)),
            nn.ReLU(),
            nn.Unflatten(1, (128, h // 4, w // 4)),
            nn.ConvTranspose2d(128, 64, 4, 2, 1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.ConvTranspose2d(64, channels, 4, 2, 1),
            nn.Tanh(),
            nn.Flatten(),
        )
        self.disc_features = nn.Sequential(
            nn.Conv2d(channels, 64, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.embedding_dim = 128 * (h // 4) * (w // 4)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Data → the generator's [-1, 1] space."""
        scaled: torch.Tensor = self.input_norm(x) * 2 - 1
        return scaled

    def generate_scaled(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.disc_head.weight.device)
        out: torch.Tensor = self.generator(z)
        return out.reshape(n, *self.input_shape)

    def generate(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Samples in the data's own units."""
        scaled = (self.generate_scaled(n, generator) + 1) / 2
        return scaled * self.input_norm.std + self.input_norm.mean

    def discriminate(self, scaled: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.disc_head(
            self.disc_features(scaled.reshape(scaled.shape[0], *self.input_shape))
        )
        return out.squeeze(1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.disc_features(self.scale(x))
        return out

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.disc_head(features)
        return out


@register("gan", tasks=("gan",))
def build_gan(
    spec: GANSpec, input_shape: list[int], output_dim: int, _context: BuildContext
) -> DeepfeatModel:
    return GAN(spec, input_shape, output_dim)
