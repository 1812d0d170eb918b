"""Arbitrary bytes in any format are a 4xx, never an unexpected exception (which would be a 500)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepfeat.data.formats import read_dataset
from deepfeat.data.options import ReadOptions
from deepfeat.errors import DeepfeatError
from tests import datafiles

SEEDS = {
    "csv": datafiles.csv_bytes(8),
    "parquet": datafiles.parquet_bytes(8),
    "npz": datafiles.npz_bytes(datafiles.np.zeros((4, 3)), datafiles.np.arange(4)),
    "jsonl": datafiles.jsonl_bytes(4),
    "images": datafiles.image_zip_bytes(2),
}


def mutate(seed: bytes, data: st.DataObject) -> bytes:
    """Flip, cut or splice a valid file: closer to real corruption than random noise."""
    raw = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            raw[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del raw[at : at + data.draw(st.integers(1, 64))]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        if not raw:
            break
    return bytes(raw)


@pytest.mark.parametrize("fmt", [*sorted(SEEDS), "detect-npz", "detect-images", "detect-parquet"])
# Derandomized so CI sees the same cases every run; explored with max_examples=500 and random seeds.
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_corrupted_files_are_refused_cleanly(fmt: str, data: st.DataObject) -> None:
    detect = fmt.startswith("detect-")
    fmt = fmt.removeprefix("detect-")
    payload = mutate(SEEDS[fmt], data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(payload)
        work = Path(tmp) / "work"
        work.mkdir()
        status = 200
        try:
            options = ReadOptions(format=None if detect else fmt, target="kind" if fmt == "csv" else None)
            read_dataset(path, None, options, work)
        except DeepfeatError as exc:
            status = exc.status_code
        assert status == 200 or 400 <= status < 500
        assert not any(work.iterdir())
