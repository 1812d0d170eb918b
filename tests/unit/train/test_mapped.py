"""Training from a memory map: the same batches as the in-memory path, and checkpoints kept in a store
that another machine (another local folder) resumes from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from deepfeat.config import Settings
from deepfeat.data.arrays import ArrayDataset
from deepfeat.data.builtins import load_builtin
from deepfeat.nn.blocks import InputNorm
from deepfeat.specs.runs import RunSpec
from deepfeat.storage.backends import open_store
from deepfeat.train import batches
from deepfeat.train.batches import STATS_CHUNK_ROWS, MappedRows, fit_input_norm
from deepfeat.train.job import train
from deepfeat.train.loop import Tensors, fit
from deepfeat.train.setup import setup_run
from deepfeat.train.stored_checkpoints import StoredCheckpoints
from tests.helpers.training import CLASSIFY, Crash, CrashingRecorder, Recorder, stable


def test_batches_from_a_memory_map_equal_those_of_prebuilt_tensors(tmp_path: Path) -> None:
    digits = load_builtin("digits")
    np.save(tmp_path / "X.npy", np.asarray(digits.X, dtype=np.float32))
    mapped_x = np.load(tmp_path / "X.npy", mmap_mode="c")
    assert isinstance(mapped_x, np.memmap)
    spec = RunSpec.model_validate(CLASSIFY)
    results = []
    for source in ("tensors", "map"):
        torch.manual_seed(0)
        setup = setup_run(spec, digits.schema, Settings())
        rows = torch.arange(1500)
        y = torch.from_numpy(np.asarray(digits.y, dtype=np.int64))
        if source == "tensors":
            x = torch.from_numpy(np.asarray(digits.X, dtype=np.float32)).reshape(-1, *setup.input_shape)
            setup.model.input_norm.fit(x[rows])
            train_part, val = Tensors(x[rows], y[rows]), Tensors(x[1500:], y[1500:])
        else:
            train_part = MappedRows(mapped_x, y, rows, setup.input_shape)
            val = MappedRows(mapped_x, y, torch.arange(1500, len(y)), setup.input_shape)
            fit_input_norm(setup.model.input_norm, train_part)
        recorder = Recorder()
        fit(setup.model, setup.objective, train_part, val, spec.training, recorder)
        results.append(stable(recorder.epochs))
    assert results[0] == results[1]


@pytest.mark.parametrize("chunk_bytes", [None, 4096])  # the default, and chunks of 128 rows
@pytest.mark.parametrize("mode", ["standard", "minmax"])
def test_input_scaling_over_chunks_matches_the_whole_array(
    mode: Any, chunk_bytes: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chunk_bytes is not None:
        monkeypatch.setattr(batches, "STATS_CHUNK_BYTES", chunk_bytes)
    rows = STATS_CHUNK_ROWS * 2 + 123
    x = np.random.default_rng(0).normal(5, 3, size=(rows, 4)).astype(np.float32)
    whole, chunked = InputNorm([4], mode), InputNorm([4], mode)
    whole.fit(torch.from_numpy(x))
    fit_input_norm(chunked, MappedRows(x, torch.zeros(rows), torch.arange(rows), [4]))
    torch.testing.assert_close(chunked.mean, whole.mean, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(chunked.std, whole.std, rtol=1e-4, atol=1e-4)


def test_a_run_resumes_on_another_machine_from_checkpoints_in_s3(
    tmp_path: Path, s3_url: str, s3_endpoint: str
) -> None:
    spec, data = RunSpec.model_validate(CLASSIFY), load_builtin("digits")
    data = ArrayDataset(np.asarray(data.X, dtype=np.float32), data.y, data.schema)
    straight = Recorder()
    train(spec, data, straight, Settings())

    def host(name: str) -> StoredCheckpoints:
        settings = Settings(data_dir=tmp_path / name, artifact_url=s3_url, s3_endpoint_url=s3_endpoint)
        return StoredCheckpoints(open_store(settings), "run_abc", tmp_path / name / "ckpt")

    first = CrashingRecorder(at_epoch=3)
    with pytest.raises(Crash):
        train(spec, data, first, Settings(), host("a"))
    elsewhere = host("b")
    assert elsewhere.latest().epoch == 2  # type: ignore[union-attr]
    second = Recorder()
    outcome = train(spec, data, second, Settings(), elsewhere)
    assert outcome.receipt["resumed_from_epoch"] == 2
    assert stable(first.epochs + second.epochs) == stable(straight.epochs)
    # Only the latest checkpoint's objects stay, and clearing removes them.
    assert len([k for k in _keys(elsewhere) if not k.endswith("latest.json")]) == 2
    elsewhere.clear()
    assert _keys(elsewhere) == []
    assert elsewhere.latest() is None


def _keys(checkpoints: StoredCheckpoints) -> list[str]:
    store: Any = checkpoints.store
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix + checkpoints.prefix)
    return [item["Key"] for item in listed.get("Contents", [])]
