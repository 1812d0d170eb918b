"""What an autoencoder learned, kept for people to look at: a few validation inputs next to their
reconstructions, and the histogram of validation reconstruction errors (the anomaly scores).

Written once, when training ends, as run artifacts: `reconstructions.png` for images (inputs on the top
row, reconstructions below), `reconstructions.json` for everything else (numbers the dashboard draws).
Both compare in the *scaled* space the model reconstructs (see nn/autoencoder.py).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from deepfeat.train.images import grid_png
from deepfeat.train.loop import Tensors

SAMPLES = 8
MAX_FEATURES = 64  # a reconstruction of wider inputs is shown by its first features
HISTOGRAM_BINS = 30


def is_image(input_shape: list[int]) -> bool:
    return len(input_shape) == 3 and input_shape[0] in (1, 3)


@torch.no_grad()
def reconstruction_files(
    model: torch.nn.Module, val: Tensors, input_shape: list[int], loss: str = "mse"
) -> dict[str, tuple[str, bytes]]:
    """`{artifact name: (media type, bytes)}` for the first validation samples."""
    if len(val) == 0:
        return {}
    model.eval()
    x = val.x[:SAMPLES]
    target = val.y[:SAMPLES].float().cpu()
    output = model(x).float().cpu()
    if loss == "bce":  # the decoder outputs logits of the [0, 1]-scaled input
        output = torch.sigmoid(output)
    if is_image(input_shape):
        n = target.shape[0]
        both = torch.cat([target.reshape(n, *input_shape), output.reshape(n, *input_shape)])
        return {"reconstructions.png": ("image/png", grid_png(both, columns=n, scale=6))}
    flat_in, flat_out = target.flatten(1), output.flatten(1)
    body = {
        "shape": input_shape,
        "features": int(flat_in.shape[1]),
        "inputs": _rounded(flat_in[:, :MAX_FEATURES].numpy()),
        "reconstructions": _rounded(flat_out[:, :MAX_FEATURES].numpy()),
        "errors": _rounded(((flat_out - flat_in) ** 2).mean(dim=1).numpy()),
    }
    return {"reconstructions.json": ("application/json", json.dumps(body).encode())}


def error_histogram(
    errors: npt.NDArray[Any], threshold: float | None = None, bins: int = HISTOGRAM_BINS
) -> dict[str, Any]:
    """Equal-width bins from 0: `edges` (bins + 1) and `counts` (bins). A few huge errors would squeeze
    everything else into the first bar, so the range stops at twice the threshold and the errors past
    it are counted in the last bar (`overflow` says how many)."""
    high = float(errors.max()) if errors.size else 1.0
    if threshold is not None and threshold > 0:
        high = min(high, 2 * float(threshold))
    high = high if high > 0 else 1.0
    overflow = int((errors > high).sum())
    counts, edges = np.histogram(np.minimum(errors, high), bins=bins, range=(0.0, high))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts], "overflow": overflow}


def _rounded(values: npt.NDArray[Any]) -> Any:
    return np.round(values.astype(np.float64), 5).tolist()
