"""`efficientnet-lite0`: the packaged ImageNet weights; images arrive as base64 PNG/JPEG."""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image, UnidentifiedImageError
from torch import nn

from deepfeat.data.images import upright
from deepfeat.data.schema import DatasetSchema
from deepfeat.encoders.embedder import Embedder, InvalidInput

RESIZE, CROP = 256, 224
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded
FORMATS = ("PNG", "JPEG")


def decode_image(data: Any, loc: str) -> Image.Image:
    """A base64 PNG/JPEG (optionally a `data:` URI) → an RGB image, or a 422 naming the input."""
    if not isinstance(data, str):
        raise InvalidInput(loc, "this encoder reads images: send a base64 PNG or JPEG string")
    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            loc, "is not valid base64: this encoder reads images (base64 PNG or JPEG), not text"
        ) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            if image.format not in FORMATS:
                raise InvalidInput(loc, f"is a {image.format} image; send PNG or JPEG")
            if image.width * image.height > MAX_PIXELS:
                raise InvalidInput(loc, f"{image.width}×{image.height} is over {MAX_PIXELS:,} pixels")
            image.load()
            return upright(image).convert("RGB")  # as dataset ingest reads it (EXIF rotation)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError, Warning):
        raise InvalidInput(loc, "cannot be decoded as a PNG or JPEG image") from None


def preprocess(image: Image.Image) -> torch.Tensor:
    """Resize the short side to 256, centre-crop 224, scale to [-1, 1] (the weights' training recipe)."""
    scale = RESIZE / min(image.size)
    size = (max(CROP, round(image.width * scale)), max(CROP, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR)
    left, top = (size[0] - CROP) // 2, (size[1] - CROP) // 2
    image = image.crop((left, top, left + CROP, top + CROP))
    array = np.asarray(image, dtype=np.float32).transpose(2, 0, 1)
    return torch.from_numpy((array / 255.0 - 0.5) / 0.5)


def array_image(array: npt.NDArray[Any]) -> Image.Image:
    """A C×H×W array as an RGB image: uint8 as is; other dtypes min-max scaled per image to 0..255."""
    if array.dtype != np.uint8:
        low, high = float(array.min()), float(array.max())
        span = high - low if high > low else 1.0
        array = np.round((array.astype(np.float64) - low) / span * 255).astype(np.uint8)
    hwc = np.ascontiguousarray(array.transpose(1, 2, 0))
    if hwc.shape[2] == 1:
        return Image.fromarray(hwc[:, :, 0]).convert("RGB")
    return Image.fromarray(hwc).convert("RGB")


def build_efficientnet(weights: Path) -> EfficientNet:
    model = EfficientNet.from_name("efficientnet-lite0")  # from_pretrained would reach for the network
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


class ImageEmbedder(Embedder):
    modality = "image"
    default_normalize = False

    def __init__(self, weights: Path) -> None:
        self.net = build_efficientnet(weights)
        self.module = self.net
        self.dim = 1280

    def prepare(self, inputs: Sequence[Any]) -> list[Any]:
        return [preprocess(decode_image(item, f"/inputs/{i}")) for i, item in enumerate(inputs)]

    def dataset_problem(self, schema: DatasetSchema) -> str | None:
        shape = schema.input_shape
        if schema.modality != "image" or len(shape) != 3 or shape[0] not in (1, 3, 4):
            return (
                "this encoder reads images (1, 3 or 4 channels, C×H×W); the dataset is "
                f"{schema.modality} with input shape {shape}"
            )
        return None

    def prepare_rows(self, rows: npt.NDArray[Any]) -> list[Any]:
        """C×H×W arrays through the same resize/crop/scale as an uploaded PNG of the same pixels."""
        return [preprocess(array_image(np.asarray(row))) for row in rows]

    def forward(self, items: list[Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        features: torch.Tensor = self.net.extract_features(torch.stack(items).to(self.device))
        return features, None  # N×1280×7×7: `mean` pooling is the global average pool

    def graph(self, layer: str | None) -> nn.Module | None:
        return _Features(self.net) if layer is None else None

    def probe(self) -> list[Any]:
        generator = torch.Generator().manual_seed(0)
        return list((torch.rand(4, 3, CROP, CROP, generator=generator) * 2 - 1).unbind(0))


class _Features(nn.Module):
    """EfficientNet's feature map as a module of its own (what the ONNX engine exports)."""

    def __init__(self, net: EfficientNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net.extract_features(images)
        return out
