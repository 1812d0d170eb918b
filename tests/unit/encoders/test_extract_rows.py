"""Rows of stored datasets become the same model inputs as the equivalent request would: an image array
and a PNG of its pixels preprocess identically; the extraction writer keeps row order across chunks."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from deepfeat.encoders.embedder import Embedder, EmbedOptions
from deepfeat.encoders.extract import write_embeddings
from deepfeat.encoders.image import array_image, decode_image, preprocess


def png_of(hwc: np.ndarray[Any, Any]) -> str:
    buffer = io.BytesIO()
    Image.fromarray(hwc).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_an_image_row_preprocesses_like_a_png_of_its_pixels() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(3, 30, 20), dtype=np.uint8)
    from_png = preprocess(decode_image(png_of(rgb.transpose(1, 2, 0)), "/inputs/0"))
    assert torch.equal(preprocess(array_image(rgb)), from_png)
    grey = rng.integers(0, 256, size=(1, 12, 12), dtype=np.uint8)
    assert torch.equal(preprocess(array_image(grey)), preprocess(decode_image(png_of(grey[0]), "/inputs/0")))
    small = np.arange(64, dtype=np.float32).reshape(1, 8, 8) / 4  # digits-like: 0..16, not 0..255
    scaled = np.asarray(array_image(small))
    assert (scaled.min(), scaled.max()) == (0, 255)


class Doubling(Embedder):
    modality = "numeric"
    dim = 2
    module = torch.nn.Identity()

    def prepare(self, inputs: Sequence[Any]) -> list[Any]:
        return [torch.as_tensor(np.asarray(x, dtype=np.float32)) for x in inputs]

    def forward(self, items: list[Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        return torch.stack(items) * 2, None


def test_write_embeddings_keeps_row_order_across_chunks(tmp_path: Path) -> None:
    X = np.arange(22, dtype=np.float32).reshape(11, 2)
    ticks: list[int] = []
    dim = write_embeddings(Doubling(), EmbedOptions(), X, tmp_path / "e.npy", ticks.append, chunk=4)
    out = np.load(tmp_path / "e.npy")
    assert dim == 2
    assert out.dtype == np.float32
    assert np.array_equal(out, X * 2)
    assert ticks == [4, 8, 11]
