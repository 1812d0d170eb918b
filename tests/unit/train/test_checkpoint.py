"""Checkpoints resume a run exactly, survive being killed mid-write, and never execute what they load."""

from __future__ import annotations

import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from deepfeat.config import Settings
from deepfeat.data.builtins import load_builtin
from deepfeat.specs.runs import RunSpec
from deepfeat.train.checkpoint import Checkpoint, CheckpointDir
from deepfeat.train.job import train
from tests.helpers.training import CLASSIFY, Crash, CrashingRecorder, Recorder, stable

GAN: dict[str, Any] = {
    "dataset": "builtin:digits",
    "task": "gan",
    "model": {"type": "gan", "latent_dim": 8},
    "training": {"epochs": 4},
}


@pytest.mark.parametrize("document", [CLASSIFY, GAN], ids=["classification", "gan"])
def test_a_resumed_run_matches_an_uninterrupted_one(tmp_path: Path, document: dict[str, Any]) -> None:
    spec, data = RunSpec.model_validate(document), load_builtin("digits")
    straight = Recorder()
    train(spec, data, straight, Settings())

    checkpoints = CheckpointDir(tmp_path / "ckpt")
    first = CrashingRecorder(at_epoch=3)
    with pytest.raises(Crash):
        train(spec, data, first, Settings(), checkpoints)
    assert checkpoints.latest() is not None
    assert checkpoints.latest().epoch == 2  # type: ignore[union-attr]
    second = Recorder()
    outcome = train(spec, data, second, Settings(), checkpoints)

    assert outcome.receipt["resumed_from_epoch"] == 2
    assert [e["epoch"] for e in second.epochs] == list(range(3, spec.training.epochs + 1))
    assert stable(first.epochs + second.epochs) == stable(straight.epochs)


WRITER = """
import sys, torch
from pathlib import Path
from deepfeat.train.checkpoint import CheckpointDir
ckpt = CheckpointDir(Path(sys.argv[1]))
weights = {"w": torch.randn(512, 512)}
latest = ckpt.latest()  # continue where the killed writer stopped, as a resumed run does
for epoch in range((latest.epoch if latest else 0) + 1, 100_000):
    ckpt.save(epoch, weights, {"step": epoch, "blob": torch.randn(256, 256)})
"""


@pytest.mark.e2e
def test_a_checkpoint_write_killed_at_any_moment_leaves_a_loadable_latest(tmp_path: Path) -> None:
    root = tmp_path / "ckpt"
    rng = random.Random(0)
    seen = []
    for _ in range(20):
        before = _epoch(CheckpointDir(root).latest())
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root)])
        try:
            deadline = time.monotonic() + 60
            while _epoch(CheckpointDir(root).latest()) <= before:
                assert time.monotonic() < deadline, "the writer never wrote a checkpoint"
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.2))  # now it writes back to back: land somewhere inside one
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        latest = CheckpointDir(root).latest()
        assert latest is not None, "a killed write destroyed the previous checkpoint"
        assert latest.state["step"] == latest.epoch
        assert latest.model["w"].shape == (512, 512)
        seen.append(latest.epoch)
    assert len(set(seen)) > 1  # the kills landed at different points


def _epoch(checkpoint: Checkpoint | None) -> int:
    return checkpoint.epoch if checkpoint is not None else 0


class _Marker:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))


def test_a_crafted_pickle_in_a_checkpoint_is_refused_and_never_runs(tmp_path: Path) -> None:
    import torch

    marker = tmp_path / "pwned"
    checkpoints = CheckpointDir(tmp_path / "ckpt", keep=2)
    checkpoints.save(1, {"w": torch.zeros(2)}, {"step": 1})
    bad = checkpoints.save(2, {"w": torch.zeros(2)}, {"step": 2})
    (bad / "state.pt").write_bytes(pickle.dumps({"step": _Marker(str(marker))}))
    latest = checkpoints.latest()
    assert latest is not None
    assert latest.epoch == 1  # the poisoned one is skipped
    assert not marker.exists()
