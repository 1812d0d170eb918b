"""`transfer`: a pretrained encoder with a dense head trained on top. The encoder is a catalogue entry
(`minilm-l6`, `efficientnet-lite0`; here) or an encoder registered from a run (`name@version`; in
`transfer_run.py`).

Freezing is by blocks (MiniLM's transformer layers, EfficientNet's MBConv blocks plus its head conv):
`all` trains only the head, `none` everything, `{"unfreeze_last": k}` the last k blocks and the head.
Frozen blocks run without autograd and stay in eval mode (their batch-norm statistics never move). The
encoder's parameters carry `lr_multiplier`, which the optimizer turns into a parameter group.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from deepfeat.errors import SpecError
from deepfeat.nn.blocks import InputNorm, dense_stack
from deepfeat.nn.registry import BuildContext, DeepfeatModel, register
from deepfeat.specs.model import TransferSpec


class GlobalScale(InputNorm):
    """Images into [-1, 1] with one min/max over the whole training split (per-pixel scaling would
    distort images; the pretrained encoder expects (x/255 - 0.5)/0.5)."""

    def fit(self, x: torch.Tensor) -> None:
        low, high = x.min(), x.max()
        self.mean.fill_(float(low))
        self.std.fill_(float(high - low) if high > low else 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / self.std - 0.5) / 0.5


class TransferBase(DeepfeatModel):
    """A pretrained encoder cut into `blocks` (for freezing), a dense head on its pooled output."""

    encoder: nn.Module
    blocks: list[nn.Module]

    def __init__(self, spec: TransferSpec) -> None:
        super().__init__()
        self.spec = spec
        self._reads_encoded = False

    def _finish(self, encoder_dim: int, output_dim: int) -> None:
        self.first_trainable = self._freeze(self.spec)
        self.dense, width = dense_stack(encoder_dim, self.spec.head, self.spec)
        self.head = nn.Linear(width, output_dim)
        self.embedding_dim = width

    def _freeze(self, spec: TransferSpec) -> int:
        """Index of the first trainable block (len(blocks): none; 0 with everything trainable: `none`)."""
        n = len(self.blocks)
        if spec.freeze == "none":
            first = -1  # the embeddings/stem train too
        elif spec.freeze == "all":
            first = n
        else:
            k = spec.freeze.unfreeze_last
            if k > n:
                raise SpecError("/model/freeze/unfreeze_last", f"{spec.encoder} has {n} blocks; {k} is more")
            first = n - k
        for p in self.encoder.parameters():
            p.requires_grad_(first < 0)
        for block in self.blocks[max(first, 0) :]:
            for p in block.parameters():
                p.requires_grad_(True)
        for p in self.encoder.parameters():
            p.lr_multiplier = self.spec.encoder_lr_multiplier  # type: ignore[attr-defined]
        return first

    def trainable_blocks(self) -> int:
        return sum(all(p.requires_grad for p in b.parameters()) for b in self.blocks)

    def train(self, mode: bool = True) -> TransferBase:
        super().train(mode)
        if self.first_trainable >= 0:  # frozen layers keep eval behaviour (batch-norm statistics)
            frozen = set(self.encoder.modules()) - {
                m for b in self.blocks[self.first_trainable :] for m in b.modules()
            }
            for module in frozen:
                module.training = False
        return self

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.dense(x if self._reads_encoded else self._encode(x))
        return out

    def encoder_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.encoder.parameters())

    @contextmanager
    def encoded(self, x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
        """The frozen encoder's outputs for `x`, computed once; inside, the model reads them instead of
        raw inputs. With `freeze: all` every epoch would recompute exactly these (frozen blocks run in
        eval mode), which is most of the work: a linear probe on MiniLM ran an epoch in ~6 s before."""
        assert self.encoder_frozen()
        was_training = self.training
        self.eval()
        with torch.no_grad():
            encoded = torch.cat([self._encode(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
        self.train(was_training)
        self._reads_encoded = True
        try:
            yield encoded
        finally:
            self._reads_encoded = False

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(features)
        return out


class Transfer(TransferBase):
    """From a catalogue encoder (MiniLM for text, EfficientNet-Lite0 for images)."""

    def __init__(self, spec: TransferSpec, input_shape: list[int], output_dim: int) -> None:
        super().__init__(spec)
        from deepfeat.encoders.catalogue import PRETRAINED, load_pretrained

        entry = PRETRAINED[spec.encoder]
        self.modality, self.input_shape = entry.modality, input_shape
        # A private copy (training changes it) of the process's verified, loaded encoder: 5× faster than
        # hashing and loading the weights file again, which made validating a transfer spec take 250 ms.
        embedder = copy.deepcopy(load_pretrained(spec.encoder))
        self.encoder = embedder.module
        if not spec.pretrained:
            _reset(self.encoder)
        if self.modality == "text":
            self.tokenizer = getattr(embedder, "tokenizer")  # noqa: B009 - the text embedder's own
            self.encode_inputs = self._tokenise  # only text models tokenise (see `tokeniser_of`)
            self.input_norm = InputNorm(input_shape, mode="none")
            self.blocks = list(getattr(self.encoder, "encoder").layer)  # noqa: B009
        else:
            if len(input_shape) != 3 or input_shape[0] not in (1, 3):
                raise SpecError(
                    "/model/encoder",
                    f"{spec.encoder} reads images (1 or 3 × H × W), not inputs of {input_shape}",
                )
            self.input_norm = GlobalScale(input_shape)
            net: Any = self.encoder
            self.blocks = [*net._blocks, nn.ModuleList([net._conv_head, net._bn1])]
        self._finish(entry.dim, output_dim)

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


@register("transfer")
def build_transfer(
    spec: TransferSpec, input_shape: list[int], output_dim: int, context: BuildContext
) -> DeepfeatModel:
    from deepfeat.encoders.catalogue import PRETRAINED

    if spec.encoder in PRETRAINED:
        return Transfer(spec, input_shape, output_dim)
    if context.resolve_encoder is None:
        known = ", ".join(sorted(PRETRAINED))
        raise SpecError(
            "/model/encoder",
            f"{spec.encoder!r} is not a catalogue encoder ({known}) and no project is at hand",
        )
    from deepfeat.nn.transfer_run import RunTransfer

    return RunTransfer(spec, context.resolve_encoder(spec.encoder), input_shape, output_dim)


def _reset(module: nn.Module) -> None:
    """`pretrained: false`: the same architecture with fresh initial weights (the baseline to beat)."""
    for child in module.modules():
        reset = getattr(child, "reset_parameters", None)
        if callable(reset):
            reset()
