"""`transfer` from a registered encoder (`name@version`): a network trained here, fine-tuned on new data.

Any family can be registered, so its blocks are found by running it once: each module that holds
weights and runs (up to the registered layer) is a block, with the normalisation right after it
folded in (`Linear` + `BatchNorm1d` freeze together). Modules that never run for the embedding (the
source run's head, layers past the registered one) are frozen for good: they would get no gradients.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from deepfeat.errors import SpecError
from deepfeat.nn.blocks import InputNorm
from deepfeat.nn.layers import output_of
from deepfeat.nn.registry import DeepfeatModel, SourceEncoder, tokeniser_of
from deepfeat.nn.transfer_base import TransferBase, reset_weights
from deepfeat.specs.model import TransferSpec

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


class RunTransfer(TransferBase):
    encoder: DeepfeatModel

    def __init__(
        self, spec: TransferSpec, source: SourceEncoder, input_shape: list[int], output_dim: int
    ) -> None:
        super().__init__(spec)
        if list(source.input_shape) != list(input_shape):
            raise SpecError(
                "/model/encoder",
                f"{source.ref} reads inputs of shape {source.input_shape}; this dataset's are {input_shape}",
            )
        self.source_ref = source.ref
        self.input_shape = input_shape
        # The encoder standardises inputs with its own run's statistics (inside its weights); a second
        # standardisation here would change what it was trained on.
        self.input_norm = InputNorm(input_shape, mode="none")
        self.encoder = copy.deepcopy(source.model)  # a private copy: training changes it
        if isinstance(self.encoder, TransferBase):
            # The source was itself a transfer run: its own freeze policy (no autograd, eval mode for
            # blocks it froze) must not outlive it; which of its weights train is decided here.
            self.encoder.first_trainable = -1
        self.tokenise = tokeniser_of(self.encoder)
        if self.tokenise is not None:  # strings are tokenised the way the source run tokenised them
            self.encode_inputs = self.tokenise
        self.encoder.eval()
        self.layer = source.layer
        if not spec.pretrained:
            reset_weights(self.encoder)
        self.blocks, self.first_trainable = [], 0
        ran, features = self._dry_run()
        self.blocks = _group_blocks(ran)
        self._finish(features.shape[1], output_dim)
        used = {p for b in self.blocks for p in b.parameters()}
        for p in self.encoder.parameters():
            if p not in used:
                p.requires_grad_(False)

    def _dry_run(self) -> tuple[list[nn.Module], torch.Tensor]:
        """The modules with weights, in the order the embedding runs them, and one embedding."""
        ran: list[nn.Module] = []

        def record(module: nn.Module, _args: object) -> None:
            if any(True for _ in module.parameters(recurse=False)) and module not in ran:
                ran.append(module)

        hooks = [m.register_forward_pre_hook(record) for m in self.encoder.modules()]
        try:
            with torch.no_grad():
                features = self._encode(self._probe())
        finally:
            for hook in hooks:
                hook.remove()
        return ran, features

    def _probe(self) -> torch.Tensor:
        if self.tokenise is not None:
            return self.tokenise(np.array(["", ""], dtype=np.str_))
        return torch.zeros(2, *self.input_shape)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        grad = torch.is_grad_enabled() and self.first_trainable < len(self.blocks)
        with torch.set_grad_enabled(grad):
            if self.layer is None:
                out: torch.Tensor = self.encoder.forward_features(x)
            else:
                out = output_of(self.encoder.get_submodule(self.layer), lambda: self.encoder(x))
                if out is None:
                    raise SpecError(
                        "/model/encoder", f"{self.source_ref}'s layer {self.layer!r} does not run"
                    )
        # Pooled as the encoder serves it (`pool: mean`): sequences over time, feature maps over space.
        if out.dim() == 3:
            return out.mean(1)
        if out.dim() > 3:
            return out.flatten(2).mean(2)
        return out.reshape(out.shape[0], -1)


def _group_blocks(ran: list[nn.Module]) -> list[nn.Module]:
    groups: list[list[nn.Module]] = []
    for module in ran:
        if isinstance(module, _NORMS) and groups:
            groups[-1].append(module)
        else:
            groups.append([module])
    return [nn.ModuleList(group) for group in groups]
