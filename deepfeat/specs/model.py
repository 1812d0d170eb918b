"""Architecture specs, one model per family, discriminated on `type`.

Field names are the public contract (DESIGN.md §4). Every family ends in an embedding
(`forward_features`) that deepfeat can later serve, then a task head sized from the dataset.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from deepfeat.specs.base import SpecModel

Activation = Literal["relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh"]
Init = Literal["xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "orthogonal", "default"]
Width = Annotated[int, Field(ge=1, le=16384)]
Rate = Annotated[float, Field(ge=0.0, lt=1.0)]


class DenseOptions(SpecModel):
    """Shared by every family with dense layers."""

    activation: Activation = "relu"
    dropout: Rate = 0.0
    batchnorm: bool = False
    layernorm: bool = False
    init: Init = "default"


class MLPSpec(DenseOptions):
    """A stack of dense layers; the last hidden layer's output is the embedding."""

    type: Literal["mlp"] = "mlp"
    hidden: list[Width] = Field(default_factory=lambda: [128, 64], max_length=256)


class CNNSpec(DenseOptions):
    """Convolution blocks (conv → norm → activation → pool), then a dense `hidden` head.

    2-D on images (C×H×W), 1-D on sequences (T×F, features as channels) and on flat features.
    """

    type: Literal["cnn"] = "cnn"
    channels: list[Width] = Field(default_factory=lambda: [16, 32], min_length=1, max_length=256)
    kernel_size: Annotated[int, Field(ge=1, le=31)] = 3
    stride: Annotated[int, Field(ge=1, le=8)] = 1
    padding: Annotated[int, Field(ge=0, le=15)] | Literal["same", "valid"] = "same"
    pool: Literal["max", "avg"] | None = "max"
    pool_size: Annotated[int, Field(ge=2, le=8)] = 2
    global_pool: bool = Field(default=False, description="average each channel to one value before the head")
    hidden: list[Width] = Field(default_factory=lambda: [64], max_length=256)


class RNNSpec(DenseOptions):
    """Recurrent layers over a sequence (N×T×F; a 1×H×W image is read row by row; token ids need
    `vocab_size`), pooled to one vector (`last` state or `mean` over time)."""

    type: Literal["rnn"] = "rnn"
    cell: Literal["lstm", "gru", "rnn"] = "lstm"
    hidden_size: Width = 64
    num_layers: Annotated[int, Field(ge=1, le=16)] = 1
    bidirectional: bool = False
    pooling: Literal["last", "mean"] = "last"
    vocab_size: Annotated[int, Field(ge=2, le=1_000_000)] | None = None
    embedding_dim: Width = 64
    hidden: list[Width] = Field(default_factory=list, max_length=256)


class DenoisingSpec(SpecModel):
    noise: Literal["gaussian", "mask"] = "gaussian"
    level: Annotated[float, Field(gt=0.0, le=1.0)] = 0.2


class AutoencoderSpec(DenseOptions):
    """Encoder to a `latent_dim` code (the embedding) and a decoder back; mirrored unless `decoder` is set.

    With `channels`, the encoder is convolutional (stride-2 convs) on image data.
    """

    type: Literal["autoencoder"] = "autoencoder"
    hidden: list[Width] = Field(default_factory=lambda: [128, 64], max_length=256)
    latent_dim: Width = 16
    decoder: list[Width] | None = Field(default=None, max_length=256)
    channels: list[Width] | None = Field(default=None, min_length=1, max_length=16)
    denoising: DenoisingSpec | None = None
    loss: Literal["mse", "bce"] = "mse"


class NetworkSpec(SpecModel):
    hidden: list[Width] = Field(default_factory=lambda: [128, 128], min_length=1, max_length=64)
    activation: Activation = "leaky_relu"
    batchnorm: bool = False
    dropout: Rate = 0.0


class GANSpec(SpecModel):
    """Generator from `latent_dim` noise to samples and a discriminator; the discriminator's last hidden
    layer is the embedding. `style: dcgan` uses transposed convolutions for small square images."""

    type: Literal["gan"] = "gan"
    latent_dim: Width = 32
    style: Literal["mlp", "dcgan"] = "mlp"
    generator: NetworkSpec = Field(default_factory=lambda: NetworkSpec(activation="relu", batchnorm=True))
    discriminator: NetworkSpec = Field(default_factory=lambda: NetworkSpec(dropout=0.2))
    init: Init = "default"
    conditional: bool = Field(
        default=False, description="learn p(x | label): needs a categorical target; `/samples` takes `label`"
    )


class LinearLayer(SpecModel):
    layer: Literal["linear"]
    out_features: Width


class ConvLayer(SpecModel):
    layer: Literal["conv1d", "conv2d"]
    out_channels: Width
    kernel_size: Annotated[int, Field(ge=1, le=31)] = 3
    stride: Annotated[int, Field(ge=1, le=8)] = 1
    padding: Annotated[int, Field(ge=0, le=15)] = 0


class PoolLayer(SpecModel):
    layer: Literal["maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"]
    kernel_size: Annotated[int, Field(ge=1, le=16)] = 2


class RecurrentLayer(SpecModel):
    layer: Literal["lstm", "gru"]
    hidden_size: Width
    num_layers: Annotated[int, Field(ge=1, le=16)] = 1
    bidirectional: bool = False
    output: Literal["sequence", "last"] = "sequence"


class EmbeddingLayer(SpecModel):
    layer: Literal["embedding"]
    num_embeddings: Annotated[int, Field(ge=2, le=1_000_000)]
    embedding_dim: Width


class DropoutLayer(SpecModel):
    layer: Literal["dropout"]
    p: Rate = 0.5


class NormLayer(SpecModel):
    layer: Literal["batchnorm", "layernorm"]


class ActivationLayer(SpecModel):
    layer: Literal["activation"]
    name: Activation = "relu"


class FlattenLayer(SpecModel):
    layer: Literal["flatten"]


class ReshapeLayer(SpecModel):
    layer: Literal["reshape"]
    shape: list[Annotated[int, Field(ge=1, le=1_000_000)]] = Field(min_length=1, max_length=4)


LayerSpec = Annotated[
    LinearLayer
    | ConvLayer
    | PoolLayer
    | RecurrentLayer
    | EmbeddingLayer
    | DropoutLayer
    | NormLayer
    | ActivationLayer
    | FlattenLayer
    | ReshapeLayer,
    Field(discriminator="layer"),
]


class SequentialSpec(SpecModel):
    """An explicit list of layers, for anything the families don't cover; deepfeat adds the task head."""

    type: Literal["sequential"] = "sequential"
    layers: list[LayerSpec] = Field(min_length=1, max_length=256)
    init: Init = "default"
    init_activation: Activation = "relu"


class UnfreezeLast(SpecModel):
    unfreeze_last: Annotated[int, Field(ge=1, le=1000)] = Field(
        description="train only the encoder's last k blocks (transformer layers, MBConv blocks)"
    )


class TransferSpec(DenseOptions):
    """A pretrained encoder (a catalogue name) with a dense `head` trained on top; the head's last
    hidden layer (or the encoder's pooled output when `head` is empty) is the embedding."""

    type: Literal["transfer"] = "transfer"
    encoder: str = Field(min_length=1, max_length=200, examples=["minilm-l6", "efficientnet-lite0"])
    freeze: Literal["all", "none"] | UnfreezeLast = "all"
    head: list[Width] = Field(default_factory=list, max_length=64)
    encoder_lr_multiplier: Annotated[float, Field(gt=0, le=100)] = Field(
        default=0.1, description="the encoder's learning rate is the optimizer's times this"
    )
    image_size: Annotated[int, Field(ge=32, le=512)] = Field(
        default=224, description="image encoders: inputs are resized to this square (64 is plenty for 28 px)"
    )
    max_tokens: Annotated[int, Field(ge=8, le=256)] = Field(default=128, description="text encoders")
    pretrained: bool = Field(default=True, description="false: the same network randomly initialised")


ModelSpec = Annotated[
    MLPSpec | CNNSpec | RNNSpec | AutoencoderSpec | GANSpec | SequentialSpec | TransferSpec,
    Field(discriminator="type"),
]
