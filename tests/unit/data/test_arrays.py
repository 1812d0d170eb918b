"""The normalised store form: mapped not read, shared by content, and old `.npz` rows still load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepfeat.data.arrays import ArrayDataset, read_manifest, write_normalised, write_npz
from deepfeat.data.errors import DataError
from deepfeat.data.loader import batches
from deepfeat.data.schema import DatasetSchema
from deepfeat.data.tabular import encode_records
from deepfeat.db.models import Dataset
from deepfeat.services.datasets import load_arrays
from deepfeat.storage.local import FileStore


def test_identical_arrays_are_stored_once(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    a, _ = write_normalised(ArrayDataset(X, np.zeros(4, dtype=np.int64)), store)
    b, blobs_b = write_normalised(ArrayDataset(X.copy(), np.ones(4, dtype=np.int64)), store)
    assert a.key != b.key
    assert (
        read_manifest(store, a.key)["arrays"]["X"]["key"] == read_manifest(store, b.key)["arrays"]["X"]["key"]
    )
    assert [blob.created for blob in blobs_b] == [False, True, True]  # X was already there


def test_loaded_arrays_are_copy_on_write_maps(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    X = np.ones((5, 2), dtype=np.float32)
    manifest, _ = write_normalised(ArrayDataset(X, np.zeros(5, dtype=np.int64)), store)
    row = Dataset(blob_key=manifest.key, layout="npy", schema=DatasetSchema(input_shape=[2]))
    data = load_arrays(row, store)
    assert isinstance(data.X, np.memmap)
    assert data.X.flags.writeable
    data.X[0, 0] = 42.0  # private to this process: the stored blob is untouched
    assert load_arrays(row, store).X[0, 0] == 1.0


def test_old_npz_rows_still_load(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    blob = store.put_file_from(
        lambda h: write_npz(ArrayDataset(np.eye(3, dtype=np.float32), np.arange(3)), h)
    )
    data = load_arrays(Dataset(blob_key=blob.key, layout="npz", schema=DatasetSchema(n_rows=3)), store)
    np.testing.assert_array_equal(data.X, np.eye(3))
    assert data.schema.model_dump() == {"n_rows": 3}


def test_batches_cover_every_row_once_per_epoch() -> None:
    X = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = np.arange(50)
    seen = np.concatenate([yb.numpy() for _, yb in batches(X, y, 8, np.random.default_rng(0))])
    assert sorted(seen.tolist()) == list(range(50))
    subset = np.concatenate([yb.numpy() for _, yb in batches(X, y, 4, indices=np.array([3, 1, 7]))])
    assert subset.tolist() == [1, 3, 7]


def test_prediction_inputs_are_encoded_like_the_dataset() -> None:
    schema = DatasetSchema.model_validate(
        {
            "columns": [
                {"name": "h", "type": "numeric", "fill": 1.5},
                {"name": "colour", "type": "categorical", "categories": ["blue", "red"]},
            ]
        }
    )
    encoded = encode_records(schema, [{"h": 2, "colour": "red"}, {"colour": "blue"}])
    assert encoded.tolist() == [[2.0, 0.0, 1.0], [1.5, 1.0, 0.0]]
    with pytest.raises(DataError, match="not one of the categories") as info:
        encode_records(schema, [{"h": 1, "colour": "green"}])
    assert info.value.body()["column"] == "colour"
