"""Serving trained runs: rebuild the network from its spec, load its safetensors weights, run it.

Loaded models are cached per process by (run, weights sha256): a run's weights never change once it
has succeeded, so the cache needs no invalidation, only a bound.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.data.schema import DatasetSchema
from deepfeat.db.repositories.datasets import DatasetRepository
from deepfeat.db.repositories.runs import RunRepository
from deepfeat.encoders.embedder import numeric_input, text_inputs
from deepfeat.errors import ArtifactCorrupt, Conflict, DeepfeatError, PayloadTooLarge, SpecError
from deepfeat.nn import BuildContext, DeepfeatModel, tokeniser_of
from deepfeat.nn.gan import GAN
from deepfeat.services.jobs import found
from deepfeat.specs.runs import RunSpec
from deepfeat.storage import ArtifactStore
from deepfeat.train.objectives import reconstruction_errors
from deepfeat.train.setup import setup_run

CACHE_SIZE = 8


class WrongTask(DeepfeatError):
    status_code = 422
    error = "wrong_task"


@dataclass(frozen=True)
class TrainedModel:
    model: DeepfeatModel
    spec: RunSpec
    schema: DatasetSchema
    input_shape: list[int]
    anomaly: dict[str, Any] | None
    weights_sha256: str | None = None  # the served network's identity (its ONNX graph is cached by it)


_cache: OrderedDict[tuple[str, str], TrainedModel] = OrderedDict()


def load_trained(
    session: Session,
    project_id: str,
    run_id: str,
    store: ArtifactStore,
    settings: Settings,
    context: BuildContext,
) -> TrainedModel:
    """A succeeded run's network, loaded from its verified weights (cached by run and weights digest).
    `context` resolves what its spec builds on (catalogue backbones, the project's registered encoders):
    the caller hands it down, so this module never reaches back into the encoder service."""
    repo = RunRepository(session, project_id)
    run = found(repo.get(run_id), "run", run_id)
    if run.status != "succeeded":
        raise Conflict(f"run {run_id} is {run.status}; only a succeeded run can serve")
    artifacts = {a.name: a for a in repo.artifacts(run_id)}
    weights = artifacts.get("model.safetensors")
    if weights is None:
        raise Conflict(f"run {run_id} has no stored weights")
    key = (run_id, weights.sha256)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    spec = RunSpec.model_validate(run.spec)
    dataset = DatasetRepository(session, project_id).of_run(run.dataset_id)
    setup = setup_run(spec, dataset.schema, settings, context)
    # Weights are only ever read as safetensors (tensors, no code), and only if their bytes are the ones
    # the worker stored: a file swapped for a pickle or anything else is refused before it is parsed.
    path = store.verified(weights.path, weights.sha256, f"the weights of run {run_id}")
    try:
        state = load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactCorrupt(
            f"the weights of run {run_id} are not a readable safetensors file: {exc}"
        ) from None
    setup.model.load_state_dict(state)
    setup.model.eval()
    anomaly = (
        json.loads(store.path(artifacts["anomaly.json"].path).read_bytes())
        if "anomaly.json" in artifacts
        else None
    )
    trained = TrainedModel(setup.model, spec, dataset.schema, setup.input_shape, anomaly, weights.sha256)
    _cache[key] = trained
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return trained


def to_batch(trained: TrainedModel, inputs: list[Any], max_inputs: int) -> torch.Tensor:
    """Client JSON → the model's input tensor (N × input_shape; token ids for a run trained on text),
    or a 4xx naming the bad input."""
    if len(inputs) > max_inputs:
        raise PayloadTooLarge(
            f"{len(inputs)} inputs is over the limit of {max_inputs} per request", loc="/inputs"
        )
    tokenise = tokeniser_of(trained.model)
    if tokenise is not None:
        return tokenise(text_inputs(inputs))
    rows = [numeric_input(i, item, trained.input_shape) for i, item in enumerate(inputs)]
    return torch.from_numpy(np.stack(rows))


def _require(trained: TrainedModel, tasks: tuple[str, ...], endpoint: str) -> None:
    if trained.spec.task not in tasks:
        raise WrongTask(f"{endpoint} serves {' and '.join(tasks)} runs; this run is {trained.spec.task}")


@torch.inference_mode()
def predict(trained: TrainedModel, x: torch.Tensor) -> dict[str, Any]:
    _require(trained, ("classification", "regression"), "predict")
    output = trained.model(x)
    if trained.spec.task == "regression":
        return {"predictions": output.squeeze(-1).tolist()}
    probabilities = torch.softmax(output, dim=1)
    names = {c.label: c.display for c in trained.schema.class_list}
    labels = probabilities.argmax(dim=1).tolist()
    return {
        "predictions": [names.get(i, str(i)) for i in labels],
        "probabilities": probabilities.tolist(),
        "classes": [names.get(i, str(i)) for i in range(output.shape[1])],
    }


@torch.inference_mode()
def score(trained: TrainedModel, x: torch.Tensor, fpr: float | None) -> dict[str, Any]:
    """Reconstruction error per input, against a threshold calibrated on validation data."""
    _require(trained, ("autoencoder",), "score")
    assert trained.anomaly is not None
    scores = reconstruction_errors(trained.model(x), trained.model.input_norm(x))
    rate = fpr if fpr is not None else float(trained.anomaly["fpr"])
    quantiles = trained.anomaly["quantiles"]  # the 0th..100th percentiles of validation errors
    threshold = float(np.interp(1 - rate, np.linspace(0, 1, len(quantiles)), quantiles))
    return {
        "scores": scores.tolist(),
        "threshold": threshold,
        "fpr": rate,
        "is_anomaly": (scores > threshold).tolist(),
    }


@torch.inference_mode()
def samples(
    trained: TrainedModel, n: int, seed: int | None, label: str | int | None = None
) -> dict[str, Any]:
    """`n` samples in data units; a conditional GAN's are all of class `label` (required there)."""
    _require(trained, ("gan",), "samples")
    assert isinstance(trained.model, GAN)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    labels = _label_codes(trained, n, label)
    out = trained.model.generate(n, generator, labels)
    return {"samples": out.tolist(), "shape": list(out.shape[1:])}


def _label_codes(trained: TrainedModel, n: int, label: str | int | None) -> torch.Tensor | None:
    """The class code `label` names (by class name first, then by code), repeated `n` times."""
    assert isinstance(trained.model, GAN)
    if not trained.model.n_classes:
        if label is not None:
            raise SpecError("/label", "this GAN is not conditional: sample it without `label`")
        return None
    classes = trained.schema.class_list
    if label is None:
        names = ", ".join(c.display for c in classes)
        raise SpecError("/label", f"this GAN is conditional: give the `label` to sample, one of {names}")
    by_name = {c.display: c.label for c in classes}
    codes = {c.label for c in classes}
    if str(label) in by_name:
        code = by_name[str(label)]
    elif isinstance(label, int) and label in codes:
        code = label
    else:
        raise SpecError("/label", f"{label!r} is not a class of this run's dataset: {', '.join(by_name)}")
    return torch.full((n,), code, dtype=torch.long)
