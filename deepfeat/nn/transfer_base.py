"""What every `transfer` model shares: a pretrained encoder cut into blocks for freezing, a dense head
on its pooled output, and the encoder run once when it is frozen whole. The encoder comes from the
catalogue (`transfer.py`) or from a registered run (`transfer_run.py`).

Freezing is by blocks: `all` trains only the head, `none` everything, `{"unfreeze_last": k}` the last k
blocks and the head. Frozen blocks run without autograd and stay in eval mode (their batch-norm
statistics never move). The encoder's parameters carry `lr_multiplier`, which the optimizer turns into a
parameter group.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from deepfeat.errors import SpecError
from deepfeat.nn.blocks import InputNorm, dense_stack
from deepfeat.nn.registry import DeepfeatModel
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


def reset_weights(module: nn.Module) -> None:
    """`pretrained: false`: the same architecture with fresh initial weights (the baseline to beat)."""
    for child in module.modules():
        reset = getattr(child, "reset_parameters", None)
        if callable(reset):
            reset()
