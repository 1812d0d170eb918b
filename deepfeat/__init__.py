"""deepfeat: train networks from a spec and serve what they learned as embeddings."""

__version__ = "0.1.0"
