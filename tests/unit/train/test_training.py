"""The training engine on real built-in data, without the service around it."""

from __future__ import annotations

import pytest
import safetensors.torch

from deepfeat.config import Settings
from deepfeat.data.builtins import load_builtin
from deepfeat.specs.runs import RunSpec
from deepfeat.train.job import train
from deepfeat.train.setup import setup_run
from tests.helpers.training import Recorder, spec


def test_mlp_learns_digits_above_90_percent() -> None:
    recorder = Recorder()
    outcome = train(spec(), load_builtin("digits"), recorder, Settings())
    assert [e["epoch"] for e in recorder.epochs] == [1, 2, 3, 4, 5, 6]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(recorder.epochs[-1])
    assert recorder.epochs[-1]["val_accuracy"] >= 0.9
    assert recorder.epochs[-1]["loss"] < recorder.epochs[0]["loss"]
    stored = safetensors.torch.load(outcome.weights)  # the bytes parse as safetensors, tensors only
    expected = setup_run(spec(), load_builtin("digits").schema, Settings()).model.state_dict()
    assert {k: tuple(v.shape) for k, v in stored.items()} == {k: tuple(v.shape) for k, v in expected.items()}
    assert outcome.receipt["n_train"] + outcome.receipt["n_val"] == 1797


def test_same_seed_gives_identical_metrics_and_other_seed_does_not() -> None:
    runs = [Recorder(), Recorder(), Recorder()]
    for recorder, seed in zip(runs, [3, 3, 4], strict=True):
        train(spec(seed=seed, epochs=2), load_builtin("digits"), recorder, Settings())
    drop = ("epoch_time", "samples_per_s")
    same = [[{k: v for k, v in e.items() if k not in drop} for e in r.epochs] for r in runs]
    assert same[0] == same[1]
    assert same[0] != same[2]


def test_early_stopping_stops_when_the_metric_stalls() -> None:
    recorder = Recorder()
    # A huge learning rate makes validation loss stop improving quickly.
    outcome = train(
        spec(
            epochs=40,
            optimizer={"name": "sgd", "lr": 5.0},
            early_stopping={"metric": "val_accuracy", "patience": 2},
        ),
        load_builtin("digits"),
        recorder,
        Settings(),
    )
    assert outcome.result.stopped == "early_stopping"
    assert outcome.result.epochs_run < 40
    best = max(e["val_accuracy"] for e in recorder.epochs)
    assert outcome.result.best["val_accuracy"] == best


def test_cancel_stops_within_a_step() -> None:
    recorder = Recorder(stop_after_checks=3)
    outcome = train(spec(epochs=5), load_builtin("digits"), recorder, Settings())
    assert outcome.result.stopped == "cancelled"
    assert recorder.checks == 3
    assert recorder.epochs == []


def test_regression_reports_mae_and_r2() -> None:
    recorder = Recorder()
    regression = RunSpec.model_validate(
        {
            "dataset": "builtin:diabetes",
            "task": "regression",
            "model": {"type": "mlp", "hidden": [32]},
            "training": {"epochs": 30, "optimizer": {"name": "adam", "lr": 0.01}},
        }
    )
    train(regression, load_builtin("diabetes"), recorder, Settings())
    last = recorder.epochs[-1]
    assert {"val_mae", "val_r2"} <= set(last)
    assert last["val_r2"] > 0.2  # far better than predicting the mean


@pytest.mark.parametrize("scheduler", ["step", "cosine", "plateau", "onecycle"])
def test_each_scheduler_changes_the_learning_rate(scheduler: str) -> None:
    recorder = Recorder()
    extra = {"step_size": 1, "patience": 0} if scheduler in ("step", "plateau") else {}
    # plateau only acts when val_loss stalls: a far too large rate makes sure it does.
    lr = 5.0 if scheduler == "plateau" else 0.1
    train(
        spec(epochs=6, optimizer={"name": "sgd", "lr": lr}, scheduler={"name": scheduler, **extra}),
        load_builtin("digits"),
        recorder,
        Settings(),
    )
    rates = [e["lr"] for e in recorder.epochs]
    assert len(set(rates)) > 1, rates


def test_a_gan_on_images_leaves_a_sample_grid_per_epoch() -> None:
    from io import BytesIO

    from PIL import Image

    recorder = Recorder()
    gan = RunSpec.model_validate(
        {"dataset": "builtin:digits", "task": "gan", "model": {"type": "gan"}, "training": {"epochs": 2}}
    )
    train(gan, load_builtin("digits"), recorder, Settings())
    assert sorted(recorder.artifacts) == ["samples/epoch-0001.png", "samples/epoch-0002.png"]
    image = Image.open(BytesIO(recorder.artifacts["samples/epoch-0002.png"]))
    assert image.size == (4 * (8 * 9 + 1), 4 * (8 * 9 + 1))  # 8×8 grid of 8×8 samples, 1-px gaps, ×4


def test_the_example_cnn_reaches_97_percent_on_held_out_test_digits() -> None:
    import json
    from pathlib import Path

    document = json.loads((Path(__file__).parents[3] / "examples" / "cnn-digits.json").read_text())
    outcome = train(RunSpec.model_validate(document), load_builtin("digits"), Recorder(), Settings())
    assert abs(outcome.receipt["n_test"] - 1797 * 0.15) < 10  # stratified per class, so about 15 %
    assert outcome.result.best["test_accuracy"] >= 0.97
