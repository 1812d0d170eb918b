"""ZIP of image folders (`<class>/<file>.png|jpg`) to an N×C×H×W uint8 array and class labels."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from deepfeat.data.arrays import ArrayDataset
from deepfeat.data.errors import DataError
from deepfeat.data.options import ReadOptions
from deepfeat.data.safezip import safe_extract
from deepfeat.data.schema import base_schema, encode_labels

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}
DEFAULT_MAX_PIXELS = 40_000_000  # per image, before resizing


def _is_hidden(rel: Path) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in rel.parts)


def _labelled_files(root: Path, files: list[Path]) -> list[tuple[str, Path, str]]:
    """(class, path, entry name) for every image; a single top folder wrapping the classes is skipped."""
    rels = [f.relative_to(root) for f in files if not _is_hidden(f.relative_to(root))]
    tops = {r.parts[0] for r in rels}
    strip = 1 if len(tops) == 1 and all(len(r.parts) >= 3 for r in rels) else 0
    out: list[tuple[str, Path, str]] = []
    for rel in rels:
        parts = rel.parts[strip:]
        if len(parts) != 2:
            raise DataError(
                f"entry {rel.as_posix()!r}: expected <class>/<file> (one folder per class)",
                entry=rel.as_posix(),
            )
        if Path(parts[1]).suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(
                f"entry {rel.as_posix()!r}: not an image file ({', '.join(sorted(IMAGE_SUFFIXES))})",
                entry=rel.as_posix(),
            )
        out.append((parts[0], root / rel, rel.as_posix()))
    if not out:
        raise DataError("the archive holds no images")
    return sorted(out, key=lambda t: t[2])


def upright(opened: Image.Image) -> Image.Image:
    """An L or RGB image as a person sees it: EXIF rotation applied (phone photos), palette and alpha
    images through RGBA so transparency does not turn into noise. Ingest and serving both use this, so a
    photo is the same picture to training and to the served model."""
    img: Image.Image = ImageOps.exif_transpose(opened)
    converted = img.convert("RGBA").convert("RGB") if img.mode in ("P", "PA", "LA", "RGBA") else img
    return converted if converted.mode in ("L", "RGB") else converted.convert("RGB")


def _decode(path: Path, entry: str, size: tuple[int, int], max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                if opened.width * opened.height > max_pixels:
                    raise DataError(
                        f"entry {entry!r}: {opened.width}×{opened.height} is over the limit of "
                        f"{max_pixels} pixels",
                        entry=entry,
                    )
                opened.load()
                return upright(opened).resize(size, Image.Resampling.BILINEAR)
    except DataError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise DataError(f"entry {entry!r}: not a readable image ({exc})", entry=entry) from None


def read_image_zip(path: Path, options: ReadOptions, work_dir: Path) -> ArrayDataset:
    limits = options.limits
    height, width = options.image_size  # H×W, like the array it becomes
    folder = Path(tempfile.mkdtemp(prefix="unzip-", dir=work_dir))
    try:
        files = safe_extract(
            path,
            folder / "x",
            max_bytes=limits.get("max_extracted_bytes", 1 << 32),
            max_files=limits.get("max_files", 100_000),
        )
        items = _labelled_files(folder / "x", files)
        images = [
            _decode(p, entry, (width, height), limits.get("max_pixels", DEFAULT_MAX_PIXELS))
            for _, p, entry in items
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    grayscale = options.color == "grayscale" or (
        options.color == "auto" and all(img.mode == "L" for img in images)
    )
    mode = "L" if grayscale else "RGB"
    channels = 1 if grayscale else 3
    X = np.empty((len(images), channels, height, width), dtype=np.uint8)
    for i, img in enumerate(images):
        pixels: npt.NDArray[Any] = np.asarray(img.convert(mode), dtype=np.uint8)
        X[i] = pixels[None, :, :] if grayscale else pixels.transpose(2, 0, 1)
    y, classes = encode_labels(np.array([label for label, _, _ in items]))
    schema = base_schema(
        "image",
        [channels, height, width],
        len(items),
        {"target": "label", "target_type": "categorical", "classes": classes},
        feature_names=None,
        dtype="uint8",
        missing={},
        image_size=[height, width],
        color="grayscale" if grayscale else "rgb",
    )
    return ArrayDataset(X=X, y=y, schema=schema)
