"""Each format: read → schema → normalised .npy blobs → memory-mapped back → an mlp trains one epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deepfeat.config import Settings
from deepfeat.data.arrays import ArrayDataset, read_normalised, write_normalised
from deepfeat.data.formats import detect_format, read_dataset
from deepfeat.data.options import ReadOptions
from deepfeat.specs.runs import RunSpec
from deepfeat.storage.local import FileStore
from deepfeat.train.job import train
from tests import datafiles


class Quiet:
    def epoch_end(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        self.last = metrics

    def should_stop(self) -> bool:
        return False


def read(tmp_path: Path, name: str, data: bytes, **options: Any) -> ArrayDataset:
    path = tmp_path / name
    path.write_bytes(data)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return read_dataset(path, name, ReadOptions(**options), work)


def train_one_epoch(data: ArrayDataset, task: str = "classification") -> dict[str, float]:
    spec = RunSpec.model_validate(
        {
            "dataset": "x",
            "task": task,
            "model": {"type": "mlp", "hidden": [16]},
            "training": {"epochs": 1, "batch_size": 16},
        }
    )
    reporter = Quiet()
    train(spec, data, reporter, Settings())
    return reporter.last


def roundtrip(tmp_path: Path, data: ArrayDataset) -> ArrayDataset:
    store = FileStore(tmp_path / "store")
    manifest, _ = write_normalised(data, store, has_target=data.schema.has_target)
    loaded = read_normalised(store, manifest.key, data.schema)
    np.testing.assert_array_equal(np.asarray(loaded.X), data.X)
    np.testing.assert_array_equal(np.asarray(loaded.y), data.y)
    if data.X.dtype.kind != "U":
        assert isinstance(loaded.X, np.memmap)  # mapped, not read
    return loaded


@pytest.mark.parametrize(("name", "delimiter"), [("people.csv", ","), ("people.tsv", "\t")])
def test_csv_and_tsv_encode_categories_and_train(tmp_path: Path, name: str, delimiter: str) -> None:
    data = read(tmp_path, name, datafiles.csv_bytes(delimiter=delimiter), target="kind")
    s = data.schema
    assert (s.modality, s.n_rows, s.input_shape) == ("tabular", 60, [5])
    assert s.feature_names == ["height", "weight", "colour=blue", "colour=green", "colour=red"]
    assert s.feature_types == {"height": "numeric", "weight": "numeric", "colour": "categorical"}
    assert s.target_type == "categorical"
    assert {c.name for c in s.classes} == {"big", "small"}
    assert sum(c.count for c in s.classes) == 60
    assert s.missing == {"height": 0, "weight": 0, "colour": 0, "kind": 0}
    assert s.columns[2].categories == ["blue", "green", "red"]  # stored with the dataset
    assert "loss" in train_one_epoch(roundtrip(tmp_path, data))


def test_parquet_regression_target(tmp_path: Path) -> None:
    data = read(tmp_path, "prices.parquet", datafiles.parquet_bytes(), target="price")
    s = data.schema
    assert (s.modality, s.target_type, s.input_shape) == ("tabular", "numeric", [4])
    assert s.feature_types["city"] == "categorical"
    assert data.y.dtype == np.float32
    assert "loss" in train_one_epoch(roundtrip(tmp_path, data), task="regression")


@pytest.mark.parametrize(
    ("X", "modality", "shape"),
    [
        (np.random.default_rng(0).normal(size=(40, 6)), "tabular", [6]),
        (np.random.default_rng(0).normal(size=(40, 10, 3)), "sequence", [10, 3]),
        (np.random.default_rng(0).integers(0, 255, size=(40, 8, 8)).astype(np.uint8), "image", [1, 8, 8]),
        (np.random.default_rng(0).normal(size=(40, 3, 8, 8)), "image", [3, 8, 8]),
        (np.random.default_rng(0).normal(size=(40, 8, 8, 3)), "image", [3, 8, 8]),  # N×H×W×C
    ],
)
def test_npz_shapes(tmp_path: Path, X: np.ndarray, modality: str, shape: list[int]) -> None:
    y = np.arange(40) % 2
    data = read(tmp_path, "arrays.npz", datafiles.npz_bytes(X, y, compressed=True))
    assert (data.schema.modality, data.schema.input_shape) == (modality, shape)
    assert [c.count for c in data.schema.classes] == [20, 20]
    assert "loss" in train_one_epoch(roundtrip(tmp_path, data))


def test_npz_without_y_and_forced_image_modality(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(10, 5, 5)).astype(np.float32)
    data = read(tmp_path, "x.npz", datafiles.npz_bytes(X), modality="image")
    assert (data.schema.modality, data.schema.input_shape) == ("image", [1, 5, 5])
    assert (data.schema.target, data.schema.target_type) == (None, "none")
    roundtrip(tmp_path, data)


def test_jsonl_text_keeps_the_strings(tmp_path: Path) -> None:
    data = read(tmp_path, "notes.jsonl", datafiles.jsonl_bytes())
    s = data.schema
    assert (s.modality, s.n_rows, s.target) == ("text", 30, "label")
    assert [c.name for c in s.classes] == ["cat", "dog"]
    loaded = roundtrip(tmp_path, data)
    assert loaded.X[1] == "message number 1 about cats"


def test_jsonl_unicode_roundtrips(tmp_path: Path) -> None:
    data = read(tmp_path, "u.jsonl", b'{"text": "caf\\u00e9 \\u2615 \xe2\x9c\x93"}\n{"text": "ok"}\n')
    assert data.schema.target_type == "none"
    assert roundtrip(tmp_path, data).X[0] == "café ☕ ✓"


@pytest.mark.parametrize("wrap", ["", "photos/"])
def test_image_zip_resized_with_classes(tmp_path: Path, wrap: str) -> None:
    data = read(tmp_path, "pics.zip", datafiles.image_zip_bytes(wrap=wrap), image_size=(12, 10))
    s = data.schema
    assert (s.modality, s.input_shape, s.n_rows) == ("image", [3, 12, 10], 12)
    assert [(c.name, c.count) for c in s.classes] == [("blue", 6), ("red", 6)]
    assert data.X.dtype == np.uint8
    red = data.X[data.y == 1]
    assert red[:, 0].mean() > 150
    assert red[:, 2].mean() < 50
    assert "loss" in train_one_epoch(roundtrip(tmp_path, data))
    assert not any((tmp_path / "work").iterdir())  # the extraction folder is gone


def test_grayscale_images_give_one_channel(tmp_path: Path) -> None:
    zipped = datafiles.zip_with(
        [(f"{c}/{i}.png", datafiles.png_bytes((i * 20, 0, 0), mode="L")) for c in "ab" for i in range(3)]
    )
    data = read(tmp_path, "g.zip", zipped)
    assert data.schema.input_shape == [1, 32, 32]
    assert data.schema.color == "grayscale"


def test_format_detection_from_bytes(tmp_path: Path) -> None:
    cases = {
        "parquet": datafiles.parquet_bytes(),
        "npz": datafiles.npz_bytes(np.zeros((2, 2))),
        "images": datafiles.image_zip_bytes(1),
        "jsonl": datafiles.jsonl_bytes(2),
        "tsv": datafiles.csv_bytes(3, "\t"),
        "csv": datafiles.csv_bytes(3),
    }
    for fmt, data in cases.items():
        path = tmp_path / f"blob-{fmt}"
        path.write_bytes(data)
        assert detect_format(path, None, None) == fmt


def test_missing_values_dropped_or_imputed(tmp_path: Path) -> None:
    raw = b"a,b,c,t\n1,x,5,0\n,y,6,1\n3,,7,0\n4,x,NaN,1\n5,y,9,0\n6,x,10,1\n"
    dropped = read(tmp_path, "m.csv", raw, target="t", missing="drop")
    assert dropped.schema.n_rows == 3
    assert dropped.schema.n_dropped == 3
    assert dropped.schema.missing == {"a": 1, "b": 1, "c": 1, "t": 0}
    imputed = read(tmp_path, "m.csv", raw, target="t", missing="impute")
    assert imputed.schema.n_rows == 6
    columns = {c.name: c for c in imputed.schema.columns or []}
    assert columns["a"].fill == pytest.approx((1 + 3 + 4 + 5 + 6) / 5)
    assert columns["b"].fill == "x"
    assert imputed.X[1, 0] == pytest.approx(columns["a"].fill)
    assert np.isfinite(imputed.X).all()
