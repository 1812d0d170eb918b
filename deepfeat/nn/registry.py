"""Model families registered by name (after timm's `register_model` / `create_model`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import torch
from torch import nn

from deepfeat.errors import SpecError
from deepfeat.nn.blocks import InputNorm


class DeepfeatModel(nn.Module):
    """Every built network: `forward_features` gives the embedding, `forward_head` the task output."""

    input_norm: InputNorm  # standardises raw inputs; fitted on the training split

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@dataclass(frozen=True)
class SourceEncoder:
    """A registered encoder, loaded: the trained network of its run and the layer it serves."""

    ref: str  # pinned, `name@version`
    model: DeepfeatModel  # shared with the serving cache: builders copy it before training it
    input_shape: list[int]
    layer: str | None  # None: `forward_features`


@dataclass(frozen=True)
class Backbone:
    """A catalogue encoder as a builder gets it: a private copy of the pretrained network (training
    changes it), the blocks its catalogue entry declares for freezing (in forward order) and, for text,
    its tokenizer."""

    name: str
    modality: str  # "text" | "image"
    dim: int
    module: nn.Module
    blocks: list[nn.Module]
    tokenizer: Any | None = None


@dataclass(frozen=True)
class BuildContext:
    """What a builder may need beyond the spec, handed down by the layers that own it: catalogue
    backbones by name (the encoders package fills these) and, where a project is at hand, a resolver
    for its registered encoders (`transfer` from `name@version`; refused without one)."""

    resolve_encoder: Callable[[str], SourceEncoder] | None = None
    backbones: Mapping[str, Callable[[], Backbone]] = field(default_factory=dict)


Tokenise = Callable[[Any], torch.Tensor]


def tokeniser_of(model: nn.Module) -> Tokenise | None:
    """A text model's `encode_inputs` (an array of strings → token ids as float32, the dtype every
    input tensor has); None for a model that reads numbers."""
    encode = getattr(model, "encode_inputs", None)
    return cast(Tokenise, encode) if callable(encode) else None


Builder = Callable[[Any, list[int], int, BuildContext], DeepfeatModel]
B = TypeVar("B", bound=Builder)
_REGISTRY: dict[str, Builder] = {}
_TASKS: dict[str, tuple[str, ...]] = {}


def register(family: str, tasks: tuple[str, ...]) -> Callable[[B], B]:
    """Register `family`'s builder and the tasks (`classification`, …) its networks can learn."""

    def decorator(builder: B) -> B:
        _REGISTRY[family] = builder
        _TASKS[family] = tasks
        return builder

    return decorator


def families() -> dict[str, tuple[str, ...]]:
    """Every registered family with its tasks, in registration order."""
    return dict(_TASKS)


def families_for(task: str) -> tuple[str, ...]:
    """The families whose networks can learn `task`."""
    return tuple(family for family, tasks in _TASKS.items() if task in tasks)


def create_model(
    spec: Any, input_shape: list[int], output_dim: int, context: BuildContext | None = None
) -> DeepfeatModel:
    """Build the network `spec` describes for samples of `input_shape` and `output_dim` outputs."""
    try:
        builder = _REGISTRY[spec.type]
    except KeyError:
        raise SpecError("/model/type", f"unknown model type {spec.type!r}") from None
    return builder(spec, input_shape, output_dim, context or BuildContext())
