"""Multi-modal data sets a GAN must learn, generated (seeded) in the test: no files, no downloads.

Each is in deliberately awkward units (offsets and scales far from 0 and 1, features on different
scales), since a GAN that only works on data already near [-1, 1] is not one a user can trust.
"""

from __future__ import annotations

import numpy as np

from deepfeat.data.arrays import ArrayDataset
from deepfeat.data.schema import DatasetSchema


def ring_of_gaussians(n: int = 2000, seed: int = 0) -> np.ndarray:
    """8 tight Gaussians on a circle (the classic mode-collapse test), centred at (50, -20), radius 10."""
    rng = np.random.default_rng(seed)
    angle = rng.integers(0, 8, n) * (2 * np.pi / 8)
    centres = np.stack([np.cos(angle), np.sin(angle)], axis=1) * 10
    return (centres + rng.normal(0, 0.5, (n, 2)) + [50, -20]).astype(np.float32)


def concentric_rings(n: int = 2000, seed: int = 0) -> np.ndarray:
    """Two rings (radii 1 and 3) with thin noise, x in metres and y in millimetres."""
    rng = np.random.default_rng(seed)
    radius = rng.choice([1.0, 3.0], n) + rng.normal(0, 0.08, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    return np.stack([radius * np.cos(angle), 1000 * radius * np.sin(angle)], axis=1).astype(np.float32)


def skewed_mixture(n: int = 2000, seed: int = 0) -> np.ndarray:
    """4 features: 3 well-separated clusters, one feature log-normal (heavy right tail), one in thousands."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 3, n)
    centres = np.array([[-4.0, 0.0, 2.0], [0.0, 4.0, -2.0], [4.0, -4.0, 0.0]])
    base = centres[cluster] + rng.normal(0, 0.4, (n, 3))
    tail = rng.lognormal(0.0, 0.6, n) * (1 + cluster)
    return np.column_stack([base[:, 0], 1000 * base[:, 1], base[:, 2], tail]).astype(np.float32)


def heavy_tails(n: int = 2000, seed: int = 0) -> np.ndarray:
    """2 features: two clusters, and an amount-like feature (log-normal, σ = 1.2: a few huge values) whose
    range is set by its rare extremes, as money and counts are in real tables."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 2, n)
    position = np.where(cluster == 0, -3.0, 3.0) + rng.normal(0, 0.5, n)
    amount = 100 * rng.lognormal(cluster * 1.0, 1.2, n)
    return np.column_stack([position, amount]).astype(np.float32)


SETS = {"ring": ring_of_gaussians, "rings": concentric_rings, "skewed": skewed_mixture, "tails": heavy_tails}


def dataset(x: np.ndarray, y: np.ndarray | None = None) -> ArrayDataset:
    """An ArrayDataset as the loaders build it: numeric features, with a categorical target if `y`."""
    schema: dict[str, object] = {
        "modality": "tabular",
        "input_shape": list(x.shape[1:]),
        "target_type": "none",
    }
    if y is not None:
        labels = sorted(int(v) for v in np.unique(y))
        schema |= {
            "target": "label",
            "target_type": "categorical",
            "classes": [{"label": v, "name": f"c{v}", "count": int((y == v).sum())} for v in labels],
        }
    return ArrayDataset(
        X=x,
        y=y if y is not None else np.zeros(len(x), dtype=np.int64),
        schema=DatasetSchema.model_validate(schema),
    )
