"""`gan`: a generator from noise to samples and a discriminator that tells real from generated.

Images are learnt in [-1, 1] (min-max scaling, tanh output: DCGAN's choice, pixels are bounded). Tabular
and sequence data are learnt standardised with a linear output: a tanh pinned to min-max [-1, 1] must
saturate to reach the extremes and squeezes heavy tails (docs/specs.md has the measurement). `generate`
maps samples back to the data's own units. The discriminator's last hidden layer is the embedding
(`forward_features`). `conditional`: the label is embedded into the generator's input and projected onto
the discriminator's features (a projection discriminator, Miyato & Koyama 2018), for either style.
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


def is_image(input_shape: list[int]) -> bool:
    """C×H×W with 1 or 3 channels: scaled like DCGAN and shown as sample grids."""
    return len(input_shape) == 3 and input_shape[0] in (1, 3)


class GAN(DeepfeatModel):
    def __init__(self, spec: GANSpec, input_shape: list[int], output_dim: int) -> None:
        super().__init__()
        self.input_shape, self.latent_dim = input_shape, spec.latent_dim
        self.image = is_image(input_shape) or spec.style == "dcgan"
        self.input_norm = InputNorm(input_shape, mode="minmax" if self.image else "standard")
        # Conditional: output_dim is the number of classes; the label joins the noise as an embedding.
        self.n_classes = output_dim if spec.conditional else 0
        label_dim = min(spec.latent_dim, 16) if self.n_classes else 0
        self.label_embedding = nn.Embedding(self.n_classes, label_dim) if self.n_classes else None
        if spec.style == "dcgan":
            self._dcgan(spec, input_shape, spec.latent_dim + label_dim)
        else:
            g_layers, g_width = _mlp(spec.latent_dim + label_dim, spec.generator, norm=True)
            out = nn.Linear(g_width, flat_size(input_shape))
            self.generator = nn.Sequential(*g_layers, out, *([nn.Tanh()] if self.image else []))
            d_layers, d_width = _mlp(flat_size(input_shape), spec.discriminator, norm=False)
            self.disc_features = nn.Sequential(nn.Flatten(), *d_layers)
            self.embedding_dim = d_width
        self.disc_head = nn.Linear(self.embedding_dim, 1)
        self.disc_projection = nn.Embedding(self.n_classes, self.embedding_dim) if self.n_classes else None
        initialise(self, spec.init, "leaky_relu")

    def _dcgan(self, spec: GANSpec, input_shape: list[int], noise_dim: int) -> None:
        if len(input_shape) != 3 or input_shape[1] % 4 or input_shape[2] % 4:
            raise SpecError(
                "/model/style", f"dcgan needs C×H×W images with H and W divisible by 4, not {input_shape}"
            )
        channels, h, w = input_shape
        self.generator = nn.Sequential(
            nn.Linear(noise_dim, 128 * (h // 4) * (w // 4)),
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
        """Data → the generator's space: [-1, 1] for images, standardised otherwise."""
        scaled: torch.Tensor = self.input_norm(x)
        return scaled * 2 - 1 if self.image else scaled

    def unscale(self, scaled: torch.Tensor) -> torch.Tensor:
        """The generator's space → the data's own units."""
        unit = (scaled + 1) / 2 if self.image else scaled
        return unit * self.input_norm.std + self.input_norm.mean

    def generate_scaled(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.disc_head.weight.device)
        if self.label_embedding is not None:
            if labels is None:
                raise ValueError("a conditional GAN generates for given labels")
            z = torch.cat([z, self.label_embedding(labels.to(z.device))], dim=1)
        out: torch.Tensor = self.generator(z)
        return out.reshape(n, *self.input_shape)

    def generate(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Samples in the data's own units (`labels`: one class code per sample, conditional GANs only)."""
        return self.unscale(self.generate_scaled(n, generator, labels))

    def discriminate(self, scaled: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        features = self.disc_features(scaled.reshape(scaled.shape[0], *self.input_shape))
        out: torch.Tensor = self.disc_head(features).squeeze(1)
        if self.disc_projection is not None:
            if labels is None:
                raise ValueError("a conditional GAN discriminates given labels")
            out = out + (self.disc_projection(labels) * features).sum(dim=1)
        return out

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
