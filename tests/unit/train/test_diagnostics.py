"""Learning-health diagnostics say whether each layer learns, and warn when one does not."""

from __future__ import annotations

import torch
from torch import nn

from deepfeat.config import Settings
from deepfeat.data.builtins import load_builtin
from deepfeat.nn import create_model
from deepfeat.specs.model import MLPSpec
from deepfeat.specs.runs import RunSpec
from deepfeat.train.diagnostics import Diagnostics, warnings_for
from deepfeat.train.job import train
from tests.helpers.training import Recorder


def run(model: dict[str, object], epochs: int = 2, **training: object) -> Recorder:
    recorder = Recorder()
    spec = RunSpec.model_validate(
        {
            "dataset": "builtin:digits",
            "task": "classification",
            "model": model,
            "training": {"epochs": epochs, **training},
        }
    )
    train(spec, load_builtin("digits"), recorder, Settings())
    return recorder


def test_every_weighted_layer_and_activation_is_measured_each_epoch() -> None:
    recorder = run({"type": "mlp", "hidden": [32, 16], "activation": "relu"})
    last = recorder.epochs[-1]
    for layer in ("features.1", "features.3", "head"):
        assert last[f"grad_norm/{layer}"] > 0
        assert last[f"weight_norm/{layer}"] > 0
        assert 0 < last[f"update_ratio/{layer}"] < 1
    for act in ("features.2", "features.4"):
        assert 0 <= last[f"dead_relu/{act}"] <= 1
    assert recorder.warnings == []


def test_diagnostics_off_records_none() -> None:
    last = run({"type": "mlp", "hidden": [16]}, diagnostics=False).epochs[-1]
    assert not [k for k in last if "/" in k]


def test_a_deep_sigmoid_stack_warns_of_vanishing_gradients() -> None:
    recorder = run({"type": "mlp", "hidden": [32] * 16, "activation": "sigmoid"}, epochs=1)
    assert any(w.startswith("vanishing gradients in features.1:") for w in recorder.warnings), (
        recorder.warnings
    )


def test_dead_and_saturated_units_are_counted_and_flagged() -> None:
    model = create_model(MLPSpec(hidden=[8, 8], activation="relu"), [4], 2)
    first = next(m for m in model.modules() if isinstance(m, nn.Linear))
    with torch.no_grad():
        first.bias.fill_(-100.0)  # every unit of the first layer is off for any input
    metrics = Diagnostics(model, torch.randn(64, 4)).units()
    assert metrics["dead_relu/features.2"] == 1.0
    messages = [w.message for w in warnings_for(metrics)]
    assert messages == ["100% of ReLU units in features.2 are dead (zero for every input)"]

    tanh = create_model(MLPSpec(hidden=[8], activation="tanh"), [4], 2)
    with torch.no_grad():
        next(m for m in tanh.modules() if isinstance(m, nn.Linear)).weight.mul_(1000)
    assert Diagnostics(tanh, torch.randn(64, 4) * 10).units()["saturated/features.2"] > 0.5
