"""Every spec in examples/ validates against its dataset and trains for a few steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepfeat.config import Settings
from deepfeat.data.builtins import load_builtin
from deepfeat.specs.runs import RunSpec
from deepfeat.train.job import train
from deepfeat.train.setup import metric_names
from tests.helpers.training import Recorder

EXAMPLES = sorted((Path(__file__).parents[3] / "examples").glob("*.json"))


def test_there_is_an_example_for_every_family_and_task() -> None:
    specs = [json.loads(p.read_text()) for p in EXAMPLES]
    assert {s["model"]["type"] for s in specs} >= {
        "mlp",
        "cnn",
        "rnn",
        "autoencoder",
        "gan",
        "sequential",
        "transfer",
    }
    assert {s["task"] for s in specs} >= {"classification", "regression", "autoencoder", "gan"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_trains_for_two_epochs(path: Path) -> None:
    document = json.loads(path.read_text())
    document["training"]["epochs"] = 2
    spec = RunSpec.model_validate(document)
    recorder = Recorder()
    outcome = train(spec, load_builtin(spec.dataset.removeprefix("builtin:")), recorder, Settings())
    assert outcome.result.epochs_run == 2
    logged = {k for k in recorder.epochs[-1] if "/" not in k} - {"epoch", "step"}  # `/`: per-layer health
    assert logged == set(metric_names(spec.task))
    if spec.task == "autoencoder":
        assert outcome.extras["anomaly"]["threshold"] > 0
