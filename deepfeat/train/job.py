"""One training job from spec + data to trained weights, independent of where it runs (worker, test)."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from safetensors.torch import save

import deepfeat
from deepfeat.config import Settings
from deepfeat.data.arrays import ArrayDataset
from deepfeat.specs.runs import RunSpec
from deepfeat.train.loop import FitResult, Reporter, Tensors, fit
from deepfeat.train.setup import setup_run
from deepfeat.train.splits import split_indices


@dataclass(frozen=True)
class TrainOutcome:
    result: FitResult
    weights: bytes  # safetensors
    receipt: dict[str, Any]


def train(spec: RunSpec, data: ArrayDataset, reporter: Reporter, settings: Settings) -> TrainOutcome:
    torch.manual_seed(spec.training.seed)
    setup = setup_run(spec, data.schema, settings)
    is_classification = spec.task == "classification"
    split = split_indices(data.y, spec.training.val_fraction, spec.training.seed, stratify=is_classification)

    x = torch.from_numpy(np.asarray(data.X, dtype=np.float32)).reshape(-1, *setup.input_shape)
    y = torch.from_numpy(np.asarray(data.y, dtype=np.int64 if is_classification else np.float32))
    train_idx, val_idx = torch.from_numpy(split.train), torch.from_numpy(split.val)
    model = setup.model
    model.input_norm.fit(x[train_idx])

    result = fit(
        model,
        setup.objective,
        Tensors(x[train_idx], y[train_idx]),
        Tensors(x[val_idx], y[val_idx]),
        spec.training,
        reporter,
    )
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    receipt = {
        "seed": spec.training.seed,
        "split_sha256": split.digest(),
        "n_train": len(split.train),
        "n_val": len(split.val),
        "params": setup.report.params,
        "epochs_run": result.epochs_run,
        "stopped": result.stopped,
        "device": "cpu",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "deepfeat": deepfeat.__version__,
        },
        "deterministic": torch.are_deterministic_algorithms_enabled(),
    }
    return TrainOutcome(result=result, weights=save(state), receipt=receipt)
