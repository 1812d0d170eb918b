"""Networks built from specs: a registry of families, shared building blocks, shape inspection."""

from deepfeat.nn import mlp as _mlp  # noqa: F401  (registers the family)
from deepfeat.nn.registry import DeepfeatModel, create_model

__all__ = ["DeepfeatModel", "create_model"]
