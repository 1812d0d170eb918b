"""One training job from spec + data to trained weights, independent of where it runs (worker, test)."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from safetensors.torch import save

import deepfeat
from deepfeat.config import Settings
from deepfeat.data.arrays import ArrayDataset
from deepfeat.nn import BuildContext, tokeniser_of
from deepfeat.nn.gan import GAN
from deepfeat.nn.transfer_base import TransferBase
from deepfeat.specs.runs import RunSpec
from deepfeat.train.batches import Batches, MappedRows, as_labels, fit_input_norm, mappable
from deepfeat.train.checkpoint import CheckpointDir
from deepfeat.train.device import DEVICE_RESIDENT_BYTES, Placement, place_data, placement
from deepfeat.train.gan import fit_gan, sample
from deepfeat.train.gan_quality import Quality
from deepfeat.train.loop import FitResult, Reporter, Tensors, evaluate, fit
from deepfeat.train.objectives import Objective, reconstruction_errors
from deepfeat.train.ranks import SINGLE, Ranks
from deepfeat.train.reconstructions import error_histogram, reconstruction_files
from deepfeat.train.setup import Setup, setup_run
from deepfeat.train.splits import Split, split_indices

ANOMALY_FPR = 0.01  # default false-positive rate the anomaly threshold is calibrated to


@dataclass(frozen=True)
class TrainOutcome:
    result: FitResult
    weights: bytes  # safetensors
    receipt: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)  # task-specific results, e.g. anomaly calibration
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # name → (media type, bytes)


def train(
    spec: RunSpec,
    data: ArrayDataset,
    reporter: Reporter,
    settings: Settings,
    checkpoints: CheckpointDir | None = None,
    context: BuildContext | None = None,
    ranks: Ranks = SINGLE,
) -> TrainOutcome:
    """Train `spec` on `data`. Across ranks every rank calls this with its `ranks`; only rank 0's outcome
    counts (the others skip the post-training scoring and files)."""
    torch.manual_seed(spec.training.seed)
    setup = setup_run(spec, data.schema, settings, context)
    task = spec.task
    training = spec.training
    conditional = bool(getattr(spec.model, "conditional", False))
    stratify = task == "classification" or conditional
    split = split_indices(data.y, training.val_fraction, training.seed, stratify, training.test_fraction)
    tokenise = tokeniser_of(setup.model)
    place = placement(
        spec.training.device, spec.training.precision, ranks.rank if ranks.distributed else None
    )
    if place.device.type == "cuda" and not ranks.distributed:  # ranks set theirs when they meet
        torch.cuda.set_device(place.device)  # this pool process's GPU, also for what torch allocates
    if tokenise is None and _from_map(setup.model, data, task, place):
        result = _fit_mapped(spec, setup, data, split, reporter, checkpoints, place, ranks)
        receipt = _receipt(spec, setup, split, result, place, ranks)
        return TrainOutcome(result=result, weights=_weights(setup.model), receipt=receipt)
    if tokenise is not None:
        x = tokenise(data.X)
    else:
        x = torch.from_numpy(np.asarray(data.X, dtype=np.float32)).reshape(-1, *setup.input_shape)
    train_idx, val_idx = torch.from_numpy(split.train), torch.from_numpy(split.val)
    model = setup.model
    model.input_norm.fit(x[train_idx])
    model.to(place.device)
    x = place_data(x, place)
    extras: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes]] = {}

    if task == "gan":
        assert isinstance(model, GAN)
        result = _train_gan(model, x, data, split, spec, reporter, checkpoints, place)
    else:
        if task == "autoencoder":
            with torch.no_grad():
                y = model.input_norm(x)  # reconstruct the scaled input
        else:
            labels = np.asarray(data.y, dtype=np.int64 if task == "classification" else np.float32)
            y = place_data(torch.from_numpy(labels), place)
        with _encoded_once(model, x, training.batch_size) as x:
            val = Tensors(x[val_idx], y[val_idx])
            train_part = Tensors(x[train_idx], y[train_idx])
            result = fit(
                model, setup.objective, train_part, val, training, reporter, checkpoints, place, ranks
            )
            finished = result.stopped != "cancelled" and ranks.is_main
            if task == "autoencoder" and finished:
                extras["anomaly"] = calibrate_anomaly(model, val)
                loss = getattr(spec.model, "loss", "mse")
                files |= reconstruction_files(model, val, setup.input_shape, loss)
            if len(split.test) and finished:
                # Held out from every choice made while training (early stopping, schedules): honest.
                test_idx = torch.from_numpy(split.test)
                _add_test_metrics(
                    result, model, setup.objective, Tensors(x[test_idx], y[test_idx]), spec, place
                )

    receipt = _receipt(spec, setup, split, result, place, ranks)
    return TrainOutcome(result=result, weights=_weights(model), receipt=receipt, extras=extras, files=files)


def _from_map(model: torch.nn.Module, data: ArrayDataset, task: str, place: Placement) -> bool:
    """Feed batches straight from the (mapped) array: numeric inputs of a supervised task, unless a frozen
    encoder is run over everything once, or a small set is better moved to the GPU whole."""
    if task not in ("classification", "regression") or not mappable(data.X):
        return False
    if isinstance(model, TransferBase) and model.encoder_frozen():
        return False
    return place.device.type == "cpu" or data.X.nbytes > DEVICE_RESIDENT_BYTES


def _fit_mapped(
    spec: RunSpec,
    setup: Setup,
    data: ArrayDataset,
    split: Split,
    reporter: Reporter,
    checkpoints: CheckpointDir | None,
    place: Placement,
    ranks: Ranks,
) -> FitResult:
    labels = as_labels(data.y, spec.task)

    def part(rows: npt.NDArray[Any]) -> MappedRows:
        return MappedRows(data.X, labels, torch.from_numpy(rows), setup.input_shape)

    model, train_part = setup.model, part(split.train)
    fit_input_norm(model.input_norm, train_part)
    model.to(place.device)
    val_part = part(split.val)
    result = fit(
        model, setup.objective, train_part, val_part, spec.training, reporter, checkpoints, place, ranks
    )
    if len(split.test) and result.stopped != "cancelled" and ranks.is_main:
        _add_test_metrics(result, model, setup.objective, part(split.test), spec, place)
    return result


def _add_test_metrics(
    result: FitResult,
    model: torch.nn.Module,
    objective: Objective,
    test_part: Batches,
    spec: RunSpec,
    place: Placement,
) -> None:
    # Held out from every choice made while training (early stopping, schedules): honest.
    test = evaluate(model, objective, test_part, spec.training.batch_size, place)
    result.best |= {key.replace("val_", "test_", 1): value for key, value in test.items()}


def _weights(model: torch.nn.Module) -> bytes:
    return save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})


def _receipt(
    spec: RunSpec, setup: Setup, split: Split, result: FitResult, place: Placement, ranks: Ranks
) -> dict[str, Any]:
    training = spec.training
    return {
        "spec_sha256": hashlib.sha256(
            json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()
        ).hexdigest(),
        "seed": spec.training.seed,
        "split_sha256": split.digest(),
        "n_train": len(split.train),
        "n_val": len(split.val),
        "n_test": len(split.test),
        "params": setup.report.params,
        "epochs_run": result.epochs_run,
        "stopped": result.stopped,
        "resumed_from_epoch": result.resumed_from,
        **({"best_epoch": result.best_epoch} if result.best_epoch else {}),
        "device": place.describe(),
        "world_size": ranks.world_size,
        "backend": ranks.backend,
        "rank_devices": [
            placement(training.device, training.precision, r if ranks.distributed else None).describe()
            for r in range(ranks.world_size)
        ],
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "deepfeat": deepfeat.__version__,
        },
        "deterministic": {
            "algorithms": torch.are_deterministic_algorithms_enabled(),
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "seeded": True,  # split, init, batch order and dropout all derive from `seed`
        },
    }


def _train_gan(
    model: GAN,
    x: torch.Tensor,
    data: ArrayDataset,
    split: Split,
    spec: RunSpec,
    reporter: Reporter,
    checkpoints: CheckpointDir | None,
    place: Placement,
) -> FitResult:
    """The GAN loop on the training split, scored on validation; test quality once, on the kept G."""
    labels = np.asarray(data.y, dtype=np.int64) if model.n_classes else np.zeros(len(x), dtype=np.int64)
    y = place_data(torch.from_numpy(labels), place)

    def part(indices: np.ndarray[Any, Any]) -> Tensors:
        idx = torch.from_numpy(indices)
        return Tensors(x[idx], y[idx])

    result = fit_gan(model, part(split.train), part(split.val), spec.training, reporter, checkpoints, place)
    if len(split.test) and result.stopped != "cancelled":
        test = part(split.test)
        quality = Quality(test.x, model.image)
        labels_t = test.y[: quality.n].long() if model.n_classes else None
        scores = quality.measure(sample(model, quality.n, labels_t), prefix="test_")
        result.best |= {k: v for k, v in scores.items() if k.startswith("test_")}
    return result


@contextmanager
def _encoded_once(model: torch.nn.Module, x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    """Inputs for the loop: a frozen pretrained encoder's outputs, computed once, where it has one."""
    if isinstance(model, TransferBase) and model.encoder_frozen():
        with model.encoded(x, batch_size) as encoded:
            yield encoded
    else:
        yield x


@torch.no_grad()
def calibrate_anomaly(model: torch.nn.Module, val: Tensors) -> dict[str, Any]:
    """The validation reconstruction-error distribution, and the threshold that flags ANOMALY_FPR of it."""
    model.eval()
    errors = reconstruction_errors(model(val.x), val.y).float().cpu().numpy()
    quantiles = np.quantile(errors, np.linspace(0, 1, 101)).tolist()
    threshold = float(np.quantile(errors, 1 - ANOMALY_FPR))
    return {
        "fpr": ANOMALY_FPR,
        "threshold": threshold,
        "quantiles": quantiles,  # 0th..100th percentile, to turn a score into a calibrated tail probability
        "n": int(errors.shape[0]),
        "histogram": error_histogram(errors, threshold),  # what the dashboard draws, with the threshold
    }
