"""A trained run served as an encoder: its `forward_features` (or a named layer) on numeric inputs, or
on strings for a run trained on text (its model tokenises them, as in training)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from deepfeat.data.schema import DatasetSchema
from deepfeat.encoders.embedder import Embedder, EmbedOptions, numeric_input, text_inputs
from deepfeat.encoders.export import EncoderGraph
from deepfeat.encoders.text import PROBE_TEXTS
from deepfeat.nn import DeepfeatModel, tokeniser_of


class TrainedEmbedder(Embedder):
    def __init__(self, model: DeepfeatModel, input_shape: list[int], max_inputs: int) -> None:
        self.tokenise = tokeniser_of(model)
        self.modality = "text" if self.tokenise is not None else "numeric"
        self.model = model
        self.module = model
        self.input_shape = input_shape
        self.max_inputs = max_inputs
        self.size = int(np.prod(input_shape))
        self.dim = 0

    def measure(self, layer: str | None) -> int:
        """The embedding width at `layer` (default: forward_features), from one zero input."""
        self.check_layer(layer)
        probe = self.prepare([""]) if self.modality == "text" else [torch.zeros(self.input_shape)]
        return int(self.embed(probe, EmbedOptions(layer=layer))[0].size)

    def dataset_problem(self, schema: DatasetSchema) -> str | None:
        if self.modality == "text":  # strings of any length: the model's tokeniser fits them
            return super().dataset_problem(schema)
        shape = schema.input_shape
        if schema.modality == "text" or int(np.prod(shape)) != self.size:
            return (
                f"this encoder reads numeric rows of {self.size} values (shape {self.input_shape}); the "
                f"dataset is {schema.modality} with input shape {shape}"
            )
        return None

    def prepare(self, inputs: Sequence[Any]) -> list[Any]:
        if self.tokenise is not None:  # a run trained on text tokenises as it did in training
            return list(self.tokenise(text_inputs(inputs)).unbind(0))
        return [torch.from_numpy(numeric_input(i, item, self.input_shape)) for i, item in enumerate(inputs)]

    def forward(self, items: list[Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.model.forward_features(torch.stack(items).to(self.device)), None

    def forward_all(self, items: list[Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.model(torch.stack(items).to(self.device)), None

    def graph(self, layer: str | None) -> nn.Module | None:
        return EncoderGraph(self.model, layer, pooled=False).eval()

    def probe(self) -> list[Any]:
        """Seeded inputs: the texts of the pretrained probe for a text run, else 16 standard-normal rows
        (the network standardises its inputs, so these land in its working range)."""
        if self.modality == "text":
            return self.prepare(PROBE_TEXTS)
        generator = torch.Generator().manual_seed(0)
        return list(torch.randn(16, *self.input_shape, generator=generator).unbind(0))
