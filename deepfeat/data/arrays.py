"""The normalised form every dataset is stored in, loaded back by memory map.

Each array is one `.npy` blob in the content-addressed store (so identical arrays are stored once) and a
small JSON manifest names them. `np.load(mmap_mode="c")` maps a blob without reading it: a 1 GiB dataset
costs page cache, not process memory, and copy-on-write keeps the arrays writable for torch without
ever touching the stored file. Text is kept as UTF-8 bytes plus offsets, so it maps the same way.

Older datasets were one `.npz`; `read_npz` still loads those (layout `npz`).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from deepfeat.data.schema import DatasetSchema
from deepfeat.storage import ArtifactStore, StoredBlob

LAYOUT_NPY = "npy"
LAYOUT_NPZ = "npz"


@dataclass(frozen=True)
class ArrayDataset:
    """`X` is float32/uint8 (N × input_shape) or, for text, an array of str; `y` has one entry per row
    (zeros when the dataset has no target: the schema's `target_type` is then `none`)."""

    X: npt.NDArray[Any]
    y: npt.NDArray[Any]
    schema: DatasetSchema = field(default_factory=DatasetSchema)

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def write_npz(dataset: ArrayDataset, handle: io.BufferedIOBase | Any) -> None:
    # allow_pickle=False on read, and only numeric arrays on write: data never becomes code.
    np.savez(handle, X=dataset.X, y=dataset.y)


def read_npz(path: Path, schema: DatasetSchema) -> ArrayDataset:
    with np.load(path, allow_pickle=False) as archive:
        return ArrayDataset(X=archive["X"], y=archive["y"], schema=schema)


def _put_array(store: ArtifactStore, array: npt.NDArray[Any], created: list[StoredBlob]) -> dict[str, Any]:
    contiguous = np.ascontiguousarray(array)
    blob = store.put_file_from(lambda handle: np.save(handle, contiguous, allow_pickle=False))
    created.append(blob)
    return {
        "key": blob.key,
        "sha256": blob.sha256,
        "dtype": contiguous.dtype.str,
        "shape": list(contiguous.shape),
    }


def write_normalised(
    dataset: ArrayDataset, store: ArtifactStore, has_target: bool = True
) -> tuple[StoredBlob, list[StoredBlob]]:
    """Store every array of `dataset` and a manifest naming them: (manifest, every blob written)."""
    arrays: dict[str, Any] = {}
    blobs: list[StoredBlob] = []
    if dataset.X.dtype.kind in ("U", "O"):  # text: UTF-8 bytes + row offsets, both mappable
        encoded = [str(s).encode("utf-8") for s in dataset.X]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(b) for b in encoded])
        arrays["text_bytes"] = _put_array(store, np.frombuffer(b"".join(encoded), dtype=np.uint8), blobs)
        arrays["text_offsets"] = _put_array(store, offsets, blobs)
    else:
        arrays["X"] = _put_array(store, dataset.X, blobs)
    if has_target:
        arrays["y"] = _put_array(store, dataset.y, blobs)
    manifest = {"layout": LAYOUT_NPY, "n_rows": dataset.n_rows, "arrays": arrays}
    blob = store.put_bytes(json.dumps(manifest, sort_keys=True).encode())
    return blob, [*blobs, blob]


def read_manifest(store: ArtifactStore, key: str) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(store.path(key).read_bytes())
    return manifest


def manifest_keys(manifest: dict[str, Any]) -> list[str]:
    return [entry["key"] for entry in manifest.get("arrays", {}).values()]


def _map(store: ArtifactStore, entry: dict[str, Any], verify: bool) -> npt.NDArray[Any]:
    # A remote store's `path` is a copy in the local cache, checked against the key's sha256 when fetched;
    # `verify` re-hashes the local file too (what a worker does before it trains on the bytes).
    path = (
        store.verified(entry["key"], entry["sha256"], "the dataset") if verify else store.path(entry["key"])
    )
    array: npt.NDArray[Any] = np.load(path, mmap_mode="c", allow_pickle=False)
    return array


def read_normalised(
    store: ArtifactStore, key: str, schema: DatasetSchema, verify: bool = False
) -> ArrayDataset:
    """Map the arrays of the manifest at `key` (text is decoded into an array of str); with `verify`, each
    array's bytes must still hash to the sha256 the manifest recorded (else ArtifactCorrupt)."""
    manifest = read_manifest(store, key)
    arrays = manifest["arrays"]
    n_rows = int(manifest["n_rows"])
    if "text_bytes" in arrays:
        raw = _map(store, arrays["text_bytes"], verify)
        offsets = _map(store, arrays["text_offsets"], verify)
        buffer = raw.tobytes()
        X: npt.NDArray[Any] = np.array(
            [buffer[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_rows)], dtype=np.str_
        )
    else:
        X = _map(store, arrays["X"], verify)
    y = _map(store, arrays["y"], verify) if "y" in arrays else np.zeros(n_rows, dtype=np.float32)
    return ArrayDataset(X=X, y=y, schema=schema)
