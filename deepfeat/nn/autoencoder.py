"""`autoencoder`: an encoder to a latent code (the embedding) and a decoder back to the input.

Dense by default; convolutional (stride-2 convolutions, mirrored by transposed ones) when `channels` is
set. Denoising corrupts the input in training mode only. The model reconstructs the *scaled* input
(`input_norm(x)`), which is also what the reconstruction loss and anomaly scores compare against.
"""

from __future__ import annotations

import torch
from torch import nn

from deepfeat.errors import SpecError
from deepfeat.nn.blocks import InputNorm, Noise, activation, dense_stack, flat_size, initialise
from deepfeat.nn.registry import BuildContext, DeepfeatModel, register
from deepfeat.specs.model import AutoencoderSpec


class Autoencoder(DeepfeatModel):
    def __init__(self, spec: AutoencoderSpec, input_shape: list[int], output_dim: int) -> None:
        super().__init__()
        self.input_shape = input_shape
        self.input_norm = InputNorm(input_shape, mode="minmax" if spec.loss == "bce" else "standard")
        self.noise = Noise(spec.denoising.noise, spec.denoising.level) if spec.denoising else nn.Identity()
        convs, deconvs, flat = self._conv_parts(spec, input_shape) if spec.channels else ([], [], 0)
        width = flat or flat_size(input_shape)
        encoder, width = dense_stack(width, spec.hidden, spec)
        self.encoder = nn.Sequential(*convs, nn.Flatten(), *encoder, nn.Linear(width, spec.latent_dim))
        decoder_sizes = spec.decoder if spec.decoder is not None else list(reversed(spec.hidden))
        decoder, width = dense_stack(spec.latent_dim, decoder_sizes, spec)
        if spec.channels:
            channels, sizes = self._bottleneck
            self.decoder = nn.Sequential(
                *decoder,
                nn.Linear(width, flat),
                activation(spec.activation),
                nn.Unflatten(1, (channels, *sizes)),
                *deconvs,
            )
        else:
            self.decoder = nn.Sequential(*decoder, nn.Linear(width, flat_size(input_shape)))
        self.embedding_dim = spec.latent_dim
        initialise(self, spec.init, spec.activation)

    def _conv_parts(
        self, spec: AutoencoderSpec, input_shape: list[int]
    ) -> tuple[list[nn.Module], list[nn.Module], int]:
        if len(input_shape) != 3:
            raise SpecError(
                "/model/channels", f"a convolutional autoencoder needs images (C×H×W), not {input_shape}"
            )
        channels, sizes = input_shape[0], input_shape[1:]
        convs: list[nn.Module] = []
        deconvs: list[nn.Module] = []
        for i, width in enumerate(spec.channels or []):
            out = [(s - 1) // 2 + 1 for s in sizes]  # kernel 3, stride 2, padding 1
            if min(out) < 1 or min(sizes) < 2:
                raise SpecError(f"/model/channels/{i}", f"a {sizes[0]}×{sizes[1]} map cannot be halved again")
            convs += [nn.Conv2d(channels, width, 3, 2, 1), activation(spec.activation)]
            # The transposed conv must land exactly on the size this conv started from.
            padding = (sizes[0] - (2 * out[0] - 1), sizes[1] - (2 * out[1] - 1))
            last = i == 0
            deconv: list[nn.Module] = [nn.ConvTranspose2d(width, channels, 3, 2, 1, output_padding=padding)]
            deconvs = deconv + ([] if last else [activation(spec.activation)]) + deconvs
            channels, sizes = width, out
        self._bottleneck = (channels, sizes)
        return convs, deconvs, channels * sizes[0] * sizes[1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.encoder(self.noise(self.input_norm(x)))
        return out

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.decoder(features)
        return out.reshape(out.shape[0], *self.input_shape)


@register("autoencoder", tasks=("autoencoder",))
def build_autoencoder(
    spec: AutoencoderSpec, input_shape: list[int], output_dim: int, _context: BuildContext
) -> DeepfeatModel:
    return Autoencoder(spec, input_shape, output_dim)
