"""Pictures of what a model makes: a grid of generated samples as a PNG."""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image


def grid_png(samples: torch.Tensor, columns: int | None = None, scale: int = 4) -> bytes:
    """N×C×H×W (C = 1 or 3) samples → one PNG, each sample min-max scaled to the full grey range."""
    n, channels, height, width = samples.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    x = samples.detach().float().cpu()
    low = x.flatten(1).min(dim=1).values.view(-1, 1, 1, 1)
    high = x.flatten(1).max(dim=1).values.view(-1, 1, 1, 1)
    pixels = ((x - low) / (high - low).clamp(min=1e-8) * 255).round().to(torch.uint8).numpy()
    canvas = np.zeros((rows * (height + 1) + 1, columns * (width + 1) + 1, channels), dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        top, left = 1 + r * (height + 1), 1 + c * (width + 1)
        canvas[top : top + height, left : left + width] = pixels[i].transpose(1, 2, 0)
    image = Image.fromarray(canvas[..., 0] if channels == 1 else canvas)
    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
