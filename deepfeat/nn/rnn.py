"""`rnn`: LSTM/GRU/Elman layers over a sequence, pooled to one vector, then an optional dense head."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from deepfeat.errors import SpecError
from deepfeat.nn.blocks import InputNorm, dense_stack, initialise
from deepfeat.nn.registry import BuildContext, DeepfeatModel, register
from deepfeat.specs.model import RNNSpec

CELLS: dict[str, Callable[..., nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def sequence_layout(input_shape: list[int], spec: RNNSpec) -> list[int]:
    """The per-sample shape the recurrent layers read: T×F, or T token ids when `vocab_size` is set."""
    if spec.vocab_size is not None:
        if len(input_shape) != 1:
            raise SpecError(
                "/model/vocab_size", f"token ids need inputs of shape [T]; this data is {input_shape}"
            )
        return input_shape
    if len(input_shape) == 2:
        return input_shape
    if len(input_shape) == 3 and input_shape[0] == 1:
        return input_shape[1:]  # a one-channel image read row by row
    raise SpecError(
        "/model/type", f"rnn needs sequences (N×T×F) or one-channel images; this data has shape {input_shape}"
    )


class RNN(DeepfeatModel):
    def __init__(self, spec: RNNSpec, input_shape: list[int], output_dim: int) -> None:
        super().__init__()
        self.layout = sequence_layout(input_shape, spec)
        self.tokens = spec.vocab_size is not None
        self.input_norm = InputNorm(input_shape, mode="none" if self.tokens else "standard")
        self.embed = nn.Embedding(spec.vocab_size, spec.embedding_dim) if spec.vocab_size else None
        features = spec.embedding_dim if self.tokens else self.layout[1]
        self.recurrent = CELLS[spec.cell](
            features,
            spec.hidden_size,
            num_layers=spec.num_layers,
            batch_first=True,
            bidirectional=spec.bidirectional,
            dropout=spec.dropout if spec.num_layers > 1 else 0.0,
        )
        self.pooling = spec.pooling
        self.directions = 2 if spec.bidirectional else 1
        self.dense, width = dense_stack(spec.hidden_size * self.directions, spec.hidden, spec)
        self.head = nn.Linear(width, output_dim)
        self.embedding_dim = width
        initialise(self, spec.init, spec.activation)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(x)
        x = self.embed(x.long()) if self.embed is not None else x.reshape(x.shape[0], *self.layout)
        outputs, state = self.recurrent(x)
        if self.pooling == "mean":
            pooled = outputs.mean(dim=1)
        else:
            h_n = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
            pooled = torch.cat(list(h_n[-self.directions :]), dim=1)  # last layer, every direction
        out: torch.Tensor = self.dense(pooled)
        return out

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(features)
        return out


@register("rnn", tasks=("classification", "regression"))
def build_rnn(
    spec: RNNSpec, input_shape: list[int], output_dim: int, _context: BuildContext
) -> DeepfeatModel:
    return RNN(spec, input_shape, output_dim)
