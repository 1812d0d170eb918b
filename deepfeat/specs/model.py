"""Architecture specs, one model per family, discriminated on `type`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from deepfeat.specs.base import SpecModel

Activation = Literal["relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh"]
Init = Literal["xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "orthogonal", "default"]


class MLPSpec(SpecModel):
    """A stack of dense layers; the last hidden layer's output is the embedding."""

    type: Literal["mlp"] = "mlp"
    hidden: list[Annotated[int, Field(ge=1, le=65536)]] = Field(default_factory=lambda: [128, 64])
    activation: Activation = "relu"
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    batchnorm: bool = False
    layernorm: bool = False
    init: Init = "default"


ModelSpec = Annotated[MLPSpec, Field(discriminator="type")]
