"""Every kind of bad upload is refused with a 4xx that names the row, column or entry."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deepfeat.data.errors import DataError, UnsupportedFormat
from deepfeat.data.formats import read_dataset
from deepfeat.data.options import ReadOptions
from deepfeat.errors import DeepfeatError
from tests import datafiles


def refuse(tmp_path: Path, name: str, data: bytes, **options: Any) -> DeepfeatError:
    path = tmp_path / name
    path.write_bytes(data)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    with pytest.raises(DeepfeatError) as info:
        read_dataset(path, name, ReadOptions(**options), work)
    assert 400 <= info.value.status_code < 500
    assert not any(work.iterdir())
    return info.value


@pytest.mark.parametrize(
    ("name", "data", "options", "where", "words"),
    [
        (
            "r.csv",
            b"a,b,t\n1,2,0\n3,4\n5,6,1\n",
            {},
            {"row": 2},
            "row 2 (line 3) has 2 fields, the header has 3",
        ),
        (
            "t.csv",
            b"a,b,t\n1,2,0\n3,abc,1\n4,5,0\n",
            {"target": "t"},
            {"row": 2, "column": "b"},
            "'abc' is not a number",
        ),
        ("n.csv", b"a,b,t\n1,2,0\n3,NaN,1\n", {"target": "t"}, {"row": 2, "column": "b"}, "value missing"),
        (
            "i.csv",
            b"a,b,t\n1,2,0\n3,inf,1\n",
            {"target": "t"},
            {"row": 2, "column": "a"} | {"column": "b"},
            "not a finite number",
        ),
        (
            "m.csv",
            b"a,t\n1,0\n2,\n3,1\n",
            {"target": "t"},
            {"row": 2, "column": "t"},
            "(the target), row 2: value missing",
        ),
        ("e.csv", b"", {}, {}, "the file is empty"),
        ("h.csv", b"a,b,t\n", {}, {}, "no data rows"),
        (
            "l.csv",
            b"a,b\n1,2\n",
            {"target": "label"},
            {"column": "label"},
            "target column 'label' is not in the table",
        ),
        ("d.csv", b"a,a,t\n1,2,0\n", {}, {"column": "a"}, "appears more than once"),
        ("x.bin", b"\x00\x01\x02\xff\xfe" * 10, {}, {}, "cannot tell the format"),
        ("x.csv", b"a,t\n1,0\n", {"format": "xlsx"}, {}, "format 'xlsx' is not supported"),
        ("j.jsonl", b'{"text": "a", "label": 1}\n{"text": 5}\n', {}, {"row": 2}, "line 2: 'text' is missing"),
        ("j.jsonl", b'{"text": "a", "label": 1}\nnot json\n', {}, {"row": 2}, "line 2: not valid JSON"),
        (
            "j.jsonl",
            b'{"text": "a", "label": 1}\n{"text": "b"}\n',
            {},
            {"row": 2, "column": "label"},
            "'label' missing",
        ),
        ("latin.csv", "a,t\n1,caf\xe9\n".encode("latin-1"), {}, {"row": 1}, "line 2: byte 0xe9 is not UTF-8"),
        ("p.parquet", b"PAR1 this is not really parquet PAR1", {}, {}, "cannot read the file as Parquet"),
    ],
)
def test_refused_with_where(
    tmp_path: Path, name: str, data: bytes, options: dict[str, Any], where: dict[str, Any], words: str
) -> None:
    error = refuse(tmp_path, name, data, **options)
    assert words in error.detail, error.detail
    for key, value in where.items():
        assert error.body()[key] == value


def test_unknown_format_is_415(tmp_path: Path) -> None:
    assert isinstance(refuse(tmp_path, "x.bin", b"\x00\xff" * 40), UnsupportedFormat)
    assert refuse(tmp_path, "x.bin", b"\x00\xff" * 40).status_code == 415


def test_too_many_categories_names_the_column(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},id{i},{i % 2}" for i in range(30))
    error = refuse(tmp_path, "c.csv", f"a,uid,t\n{rows}\n".encode(), target="t", max_categories=10)
    assert error.body()["column"] == "uid"
    assert "distinct text values" in error.detail


@pytest.mark.parametrize(
    ("arrays", "words", "entry"),
    [
        ({"y": np.zeros(3)}, "no array named 'X'", "X"),
        ({"X": np.array([[1.0, np.nan], [1.0, 2.0]])}, "X row 1 holds NaN or inf", "X"),
        ({"X": np.zeros((3, 2)), "y": np.zeros(4)}, "one value per row of X (3)", "y"),
        ({"X": np.zeros((3, 2)), "y": np.array([0.0, np.inf, 1.0])}, "y row 2 is NaN or inf", "y"),
        ({"X": np.zeros(5)}, "expected N×F", "X"),
        ({"X": np.array(["a", "b"])}, "must hold numbers", "X"),
    ],
)
def test_bad_npz(tmp_path: Path, arrays: dict[str, np.ndarray], words: str, entry: str) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    error = refuse(tmp_path, "a.npz", buffer.getvalue())
    assert words in error.detail
    assert error.body()["entry"] == entry


def test_npz_with_pickled_objects_is_refused_unread(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, X=np.array([{"evil": 1}, None], dtype=object))
    error = refuse(tmp_path, "o.npz", buffer.getvalue())
    assert "python objects" in error.detail.lower()
    assert error.body()["entry"] == "X"


def test_corrupt_image_names_the_entry(tmp_path: Path) -> None:
    zipped = datafiles.zip_with(
        [("a/1.png", datafiles.png_bytes((1, 2, 3))), ("b/2.png", b"\x89PNG\r\n\x1a\n not really")]
    )
    error = refuse(tmp_path, "c.zip", zipped)
    assert error.body()["entry"] == "b/2.png"
    assert "not a readable image" in error.detail


def test_images_outside_class_folders_are_refused(tmp_path: Path) -> None:
    zipped = datafiles.zip_with([("loose.png", datafiles.png_bytes((1, 2, 3)))])
    assert "expected <class>/<file>" in refuse(tmp_path, "f.zip", zipped).detail


def test_oversized_image_is_refused_before_decoding(tmp_path: Path) -> None:
    zipped = datafiles.zip_with([("a/big.png", datafiles.png_bytes((1, 2, 3), size=(300, 300)))])
    error = refuse(tmp_path, "b.zip", zipped, limits={"max_pixels": 10_000})
    assert "over the limit of 10000 pixels" in error.detail


def test_not_a_zip_at_all(tmp_path: Path) -> None:
    error = refuse(tmp_path, "z.zip", b"PK\x03\x04 truncated")
    assert isinstance(error, DataError)


def test_jsonl_empty_lines_only(tmp_path: Path) -> None:
    assert "no JSON lines" in refuse(tmp_path, "e.jsonl", b"\n\n  \n").detail


def test_empty_zip(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w"):
        pass
    assert refuse(tmp_path, "e.zip", buffer.getvalue()).status_code == 422


def test_npz_header_promising_more_than_it_holds_is_refused_before_allocating(tmp_path: Path) -> None:
    header = np.lib.format.header_data_from_array_1_0(np.zeros((2, 2)))
    header["shape"] = (10**10, 1000)  # 80 TB promised
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, header)
    npy.write(b"\0" * 32)
    forged = datafiles.zip_with([("X.npy", npy.getvalue())])
    error = refuse(tmp_path, "forged.npz", forged)
    assert error.body()["entry"] == "X"
    assert "claims shape [10000000000, 1000]" in error.detail


def test_parquet_expanding_past_the_cap_is_refused(tmp_path: Path) -> None:
    error = refuse(tmp_path, "big.parquet", datafiles.parquet_bytes(), limits={"max_extracted_bytes": 100})
    assert "over the limit of 100" in error.detail
