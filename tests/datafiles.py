"""Small real files in every upload format, good and bad, built in memory for the dataset tests."""

from __future__ import annotations

import io
import json
import stat
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


def csv_bytes(n: int = 60, delimiter: str = ",", seed: int = 0) -> bytes:
    """Two numeric columns, one categorical, a string target that depends on them."""
    rng = np.random.default_rng(seed)
    lines = [delimiter.join(["height", "weight", "colour", "kind"])]
    for i in range(n):
        h, w = rng.normal(170, 10), rng.normal(70, 8)
        colour = ["red", "green", "blue"][i % 3]
        kind = "big" if h + w > 240 else "small"
        lines.append(delimiter.join([f"{h:.2f}", f"{w:.2f}", colour, kind]))
    return ("\n".join(lines) + "\n").encode()


def parquet_bytes(n: int = 50) -> bytes:
    rng = np.random.default_rng(1)
    table = pa.table(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 100, size=n),
            "city": pa.array(["oslo", "rome"] * (n // 2)).dictionary_encode(),
            "price": rng.normal(10, 2, size=n),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def npz_bytes(X: np.ndarray, y: np.ndarray | None = None, compressed: bool = False) -> bytes:
    buffer = io.BytesIO()
    arrays = {"X": X} if y is None else {"X": X, "y": y}
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def jsonl_bytes(n: int = 30) -> bytes:
    rows = [
        {
            "text": f"message number {i} about {'cats' if i % 2 else 'dogs'}",
            "label": "cat" if i % 2 else "dog",
        }
        for i in range(n)
    ]
    return "\n".join(json.dumps(r) for r in rows).encode() + b"\n"


def png_bytes(colour: tuple[int, int, int], size: tuple[int, int] = (20, 16), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour if mode == "RGB" else colour[0]).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def image_zip_bytes(per_class: int = 6, wrap: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(per_class):
            archive.writestr(f"{wrap}red/r{i}.png", png_bytes((200 + i, 10, 10)))
            archive.writestr(f"{wrap}blue/b{i}.jpg", jpeg_bytes((10, 10, 200 + i)))
        archive.writestr(f"{wrap}.DS_Store", b"junk")
    return buffer.getvalue()


def zip_with(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return buffer.getvalue()


def symlink_entry(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def device_entry(name: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFCHR | 0o600) << 16
    return info, b""


def bomb_zip(megabytes: int = 64) -> bytes:
    """A small archive that expands to `megabytes` of zeros (deflate compresses them ~1000×)."""
    buffer = io.BytesIO()
    block = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("big/zeros.png", "w") as entry,
    ):
        for _ in range(megabytes):
            entry.write(block)
    return buffer.getvalue()
