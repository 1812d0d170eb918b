"""`transfer`: a pretrained encoder with a dense head trained on top. The encoder is a catalogue
backbone (`minilm-l6`, `efficientnet-lite0`: handed over by the build context, which the encoders
package fills, so this package never reaches up into it) or an encoder registered from a run
(`name@version`, `transfer_run.py`). What freezing and the head mean is in `transfer_base.py`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from deepfeat.errors import SpecError
from deepfeat.nn.blocks import InputNorm
from deepfeat.nn.registry import Backbone, BuildContext, DeepfeatModel, register
from deepfeat.nn.transfer_base import GlobalScale, TransferBase, reset_weights
from deepfeat.nn.transfer_run import RunTransfer
from deepfeat.specs.model import TransferSpec


class Transfer(TransferBase):
    """From a catalogue backbone (MiniLM for text, EfficientNet-Lite0 for images)."""

    def __init__(
        self, spec: TransferSpec, backbone: Backbone, input_shape: list[int], output_dim: int
    ) -> None:
        super().__init__(spec)
        self.modality, self.input_shape = backbone.modality, input_shape
        self.encoder = backbone.module  # the backbone's own copy: training changes it
        if not spec.pretrained:
            reset_weights(self.encoder)
        if self.modality == "text":
            self.tokenizer: Any = backbone.tokenizer
            self.encode_inputs = self._tokenise  # only text models tokenise (see `tokeniser_of`)
            self.input_norm = InputNorm(input_shape, mode="none")
        else:
            if len(input_shape) != 3 or input_shape[0] not in (1, 3):
                raise SpecError(
                    "/model/encoder",
                    f"{spec.encoder} reads images (1 or 3 × H × W), not inputs of {input_shape}",
                )
            self.input_norm = GlobalScale(input_shape)
        self.blocks = backbone.blocks
        self._finish(backbone.dim, output_dim)

    def _tokenise(self, texts: npt.NDArray[Any]) -> torch.Tensor:
        """Strings → token ids (N × max_tokens, 0-padded) as float32, the dtype every input tensor has."""
        encodings = self.tokenizer.encode_batch([str(t) for t in np.asarray(texts).reshape(-1)])
        ids = torch.zeros(len(encodings), self.spec.max_tokens)
        for row, encoding in enumerate(encodings):
            tokens = encoding.ids[: self.spec.max_tokens]
            ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.float32)
        return ids

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        grad = torch.is_grad_enabled()
        if self.modality == "text":
            ids = x.reshape(x.shape[0], -1).long()
            mask = (ids != 0).long()
            bert: Any = self.encoder
            with torch.set_grad_enabled(grad and self.first_trainable < 0):
                h = bert.embeddings(ids)
                bias = (1.0 - mask[:, None, None, :].to(h.dtype)) * torch.finfo(h.dtype).min
            for i, layer in enumerate(self.blocks):
                with torch.set_grad_enabled(grad and i >= self.first_trainable):
                    h = layer(h, bias)
            weights = mask.unsqueeze(-1).to(h.dtype)
            pooled: torch.Tensor = (h * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return pooled
        x = self.input_norm(x)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        size = self.spec.image_size
        x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        with torch.set_grad_enabled(grad and self.first_trainable < len(self.blocks)):
            net: Any = self.encoder
            features: torch.Tensor = net.extract_features(x)
        return features.mean(dim=(2, 3))


@register("transfer", tasks=("classification", "regression"))
def build_transfer(
    spec: TransferSpec, input_shape: list[int], output_dim: int, context: BuildContext
) -> DeepfeatModel:
    load_backbone = context.backbones.get(spec.encoder)
    if load_backbone is not None:
        return Transfer(spec, load_backbone(), input_shape, output_dim)
    if context.resolve_encoder is None:
        known = ", ".join(sorted(context.backbones)) or "none at hand"
        raise SpecError(
            "/model/encoder",
            f"{spec.encoder!r} is not a catalogue encoder ({known}) and no project is at hand",
        )
    return RunTransfer(spec, context.resolve_encoder(spec.encoder), input_shape, output_dim)
