"""deepfeat's GAN against a hand-written reference loop (tests/gan_reference.py), on generated
multi-modal tables and digits, and the run-level promises: best generator kept, fields honoured.

Tolerance: with the same networks, optimizer, batch size, steps, split and seed, deepfeat's last-epoch
`val_mmd` must be within 10% (+0.002 absolute, for MMDs near 0) of the reference's, on each of 3 seeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load

from deepfeat.config import Settings
from deepfeat.data.builtins import load_builtin
from deepfeat.errors import SpecError
from deepfeat.nn.gan import GAN
from deepfeat.specs.runs import RunSpec
from deepfeat.train.diagnostics import gan_warnings
from deepfeat.train.gan import sample
from deepfeat.train.gan_quality import Quality
from deepfeat.train.job import train
from deepfeat.train.setup import setup_run
from deepfeat.train.splits import split_indices
from tests.gan_data import SETS, dataset
from tests.gan_reference import train_reference
from tests.helpers.training import Recorder

SEEDS = (0, 1, 2)
EPOCHS = 4
NETS = {
    "latent_dim": 16,
    "generator": {"hidden": [64, 64], "activation": "relu", "batchnorm": True},
    "discriminator": {"hidden": [64, 64], "dropout": 0.2},
}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """These networks are tiny: one intra-op thread is faster than two fighting over shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def gan_spec(model: dict[str, Any] | None = None, **training: Any) -> RunSpec:
    return RunSpec.model_validate(
        {
            "dataset": "generated",
            "task": "gan",
            "model": {"type": "gan", **NETS, **(model or {})},
            "training": {"epochs": EPOCHS, "batch_size": 64, **training},
        }
    )


def reference(x: np.ndarray, seed: int, scaling: str = "standard") -> dict[str, float]:
    split = split_indices(np.zeros(len(x)), 0.2, seed, stratify=False)
    return train_reference(
        x[split.train],
        x[split.val],
        seed=seed,
        epochs=EPOCHS,
        latent_dim=16,
        g_hidden=(64, 64),
        d_hidden=(64, 64),
        scaling=scaling,  # type: ignore[arg-type]
    ).quality


def close(ours: float, theirs: float) -> bool:
    return abs(ours - theirs) <= 0.1 * theirs + 0.002


@pytest.mark.parametrize("name", sorted(SETS))
def test_tabular_gan_matches_the_reference_loop_on_three_seeds(name: str) -> None:
    x = SETS[name](1000, 0)
    for seed in SEEDS:
        recorder = Recorder()
        outcome = train(gan_spec(seed=seed), dataset(x), recorder, Settings())
        ours, theirs = recorder.epochs[-1]["val_mmd"], reference(x, seed)["val_mmd"]
        assert close(ours, theirs), (name, seed, ours, theirs)
        # and the generator kept is the best epoch's, never worse than the last
        assert outcome.result.best["val_mmd"] <= ours
        assert {"d_loss", "g_loss", "val_mmd", "val_w1", "sample_diversity"} <= set(recorder.epochs[-1])


def test_digits_gan_matches_the_reference_loop_on_three_seeds() -> None:
    digits = load_builtin("digits")
    x = np.asarray(digits.X, dtype=np.float32).reshape(-1, 1, 8, 8)
    plain = dataset(x)
    plain = replace(plain, schema=plain.schema.with_(modality="image"))
    for seed in SEEDS:
        recorder = Recorder()
        train(gan_spec(seed=seed), plain, recorder, Settings())
        ours, theirs = recorder.epochs[-1]["val_mmd"], reference(x, seed, "minmax")["val_mmd"]
        assert close(ours, theirs), (seed, ours, theirs)
        assert any(name.startswith("samples/epoch-") for name in recorder.artifacts)


def test_the_served_generator_is_the_best_epochs_and_the_receipt_names_it() -> None:
    x = SETS["ring"](1000, 0)
    recorder = Recorder()
    outcome = train(gan_spec(epochs=6), dataset(x), recorder, Settings())
    curve = [e["val_mmd"] for e in recorder.epochs]
    best_epoch = int(np.argmin(curve)) + 1
    assert outcome.receipt["best_epoch"] == outcome.result.best_epoch == best_epoch
    model = setup_run(gan_spec(epochs=6), dataset(x).schema, Settings()).model
    assert isinstance(model, GAN)
    model.load_state_dict(load(outcome.weights))
    split = split_indices(np.zeros(len(x)), 0.2, 0, stratify=False)
    quality = Quality(torch.from_numpy(x[split.val]), image=False)
    assert quality.measure(sample(model, quality.n))["val_mmd"] == pytest.approx(min(curve), rel=1e-4)


def test_early_stopping_on_val_mmd_stops_and_keeps_the_best() -> None:
    x = SETS["rings"](1000, 0)
    recorder = Recorder()
    spec = gan_spec(epochs=30, early_stopping={"metric": "val_mmd", "patience": 2})
    outcome = train(spec, dataset(x), recorder, Settings())
    assert outcome.result.stopped == "early_stopping"
    assert len(recorder.epochs) == outcome.result.best_epoch + 2
    assert outcome.result.best["val_mmd"] == min(e["val_mmd"] for e in recorder.epochs)


def test_every_training_field_is_honoured_for_gans() -> None:
    x = SETS["skewed"](600, 0)
    recorder = Recorder()
    spec = gan_spec(
        epochs=3,
        scheduler={"name": "step", "step_size": 1, "gamma": 0.5},
        l1=1e-4,
        l2=1e-3,
        grad_clip_norm=0.5,
        test_fraction=0.2,
        precision="bf16",
    )
    outcome = train(spec, dataset(x), recorder, Settings())
    assert [e["lr"] for e in recorder.epochs] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    assert {"test_mmd", "test_w1"} <= set(outcome.result.best)
    assert outcome.receipt["n_test"] == 120
    # clipping, penalties and autocast change the trajectory: not the same run as without them
    plain = Recorder()
    train(gan_spec(epochs=3, test_fraction=0.2), dataset(x), plain, Settings())
    assert plain.epochs[0]["d_loss"] != recorder.epochs[0]["d_loss"]


def test_early_stopping_on_a_metric_a_gan_does_not_log_is_refused_at_the_field() -> None:
    with pytest.raises(SpecError) as error:
        setup_run(
            gan_spec(early_stopping={"metric": "val_loss"}), dataset(SETS["ring"](50)).schema, Settings()
        )
    assert error.value.loc == "/training/early_stopping/metric"
    assert "val_mmd" in str(error.value)


def test_a_conditional_gan_learns_each_class_and_needs_a_target() -> None:
    digits = load_builtin("digits")
    spec = gan_spec({"conditional": True}, epochs=8)
    outcome = train(spec, digits, Recorder(), Settings())
    model = setup_run(spec, digits.schema, Settings()).model
    assert isinstance(model, GAN)
    assert model.n_classes == 10
    model.load_state_dict(load(outcome.weights))
    # samples of class k are nearer class k's mean image than most other classes' means
    x, y = torch.from_numpy(np.asarray(digits.X, dtype=np.float32)), torch.from_numpy(digits.y)
    means = torch.stack([x[y == k].mean(0) for k in range(10)])
    hits = 0
    for k in range(10):
        generated = sample(model, 50, torch.full((50,), k)).flatten(1).mean(0)
        hits += int(torch.cdist(generated[None], means).argmin()) == k
    assert hits >= 7
    with pytest.raises(SpecError) as error:
        setup_run(spec, dataset(SETS["ring"](50)).schema, Settings())
    assert error.value.loc == "/model/conditional"


def test_quality_sees_mode_collapse_and_the_warnings_name_it() -> None:
    x = torch.from_numpy(SETS["ring"](800, 0))
    quality = Quality(x[:400], image=False)
    matched = quality.measure(x[400:800])
    collapsed = quality.measure(x[400:800][x[400:800, 0] > 58].repeat(50, 1)[:400])  # one mode of eight
    assert matched["sample_diversity"] == pytest.approx(1.0, abs=0.1)
    assert collapsed["sample_diversity"] < 0.25
    assert collapsed["val_mmd"] > 10 * matched["val_mmd"]
    assert collapsed["val_w1"] > 3 * matched["val_w1"]
    assert gan_warnings(matched | {"d_accuracy": 0.7, "d_loss": 1.3, "g_loss": 0.8}) == []
    found = [w.message for w in gan_warnings(collapsed | {"d_accuracy": 1.0, "d_loss": 0.01, "g_loss": 14.0})]
    assert any(m.startswith("mode collapse") for m in found)
    assert any(m.startswith("discriminator accuracy pinned") for m in found)
    assert any(m.startswith("g_loss exploding") for m in found)


def test_a_collapsing_run_warns_as_an_event() -> None:
    # A learning rate far too high for Adam on a GAN: D wins outright and G collapses within epochs.
    recorder = Recorder()
    spec = gan_spec(epochs=3, optimizer={"name": "adam", "lr": 0.5})
    train(spec, dataset(SETS["rings"](600, 0)), recorder, Settings())
    assert any(
        w.startswith(
            ("mode collapse", "discriminator accuracy pinned", "d_loss exploding", "g_loss exploding")
        )
        for w in recorder.warnings
    ), recorder.warnings
