"""Run and sweep specs that several test modules submit."""

from __future__ import annotations

from typing import Any

MLP_SPEC: dict[str, Any] = {
    "name": "digits-mlp",
    "dataset": "builtin:digits",
    "task": "classification",
    "model": {"type": "mlp", "hidden": [64, 32], "activation": "relu", "dropout": 0.1, "init": "he_normal"},
    "training": {"epochs": 3, "batch_size": 64, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}},
}


DIGITS_MLP = {
    "dataset": "builtin:digits",
    "task": "classification",
    "model": {"type": "mlp", "hidden": [64, 32]},
    "training": {"epochs": 15, "optimizer": {"name": "adam", "lr": 0.003}},
}


SWEEP: dict[str, Any] = {
    "name": "lr-search",
    "base": {
        "dataset": "builtin:digits",
        "task": "classification",
        "model": {"type": "mlp", "hidden": [32]},
        "training": {"epochs": 3, "optimizer": {"name": "adam", "lr": 0.001}},
    },
    "method": "random",
    "metric": {"name": "val_accuracy", "goal": "maximize"},
    "parameters": {
        "training.optimizer.lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1},
        "model.hidden": {"values": [[64], [128, 64]]},
    },
    "run_cap": 4,
    "parallelism": 2,
}


SPEC: dict[str, Any] = {
    "name": "digits-mlp",
    "dataset": "builtin:digits",
    "task": "classification",
    "model": {"type": "mlp", "hidden": [128, 64], "activation": "relu", "init": "he_normal"},
    "training": {"epochs": 8, "batch_size": 64, "optimizer": {"name": "adam", "lr": 0.003}, "seed": 0},
}
