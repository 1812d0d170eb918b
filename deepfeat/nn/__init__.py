"""Networks built from specs: a registry of families, shared building blocks, shape inspection."""

# Importing a family module registers it (timm-style `@register`).
from deepfeat.nn import autoencoder, cnn, gan, mlp, rnn, sequential, transfer  # noqa: F401
from deepfeat.nn.registry import (
    Backbone,
    BuildContext,
    DeepfeatModel,
    SourceEncoder,
    create_model,
    tokeniser_of,
)

__all__ = ["Backbone", "BuildContext", "DeepfeatModel", "SourceEncoder", "create_model", "tokeniser_of"]
