"""Recording a training loop's reports, and the specs and crashes the training tests share."""

from __future__ import annotations

from typing import Any

from deepfeat.specs.runs import RunSpec


class Recorder:
    def __init__(self, stop_after_checks: int | None = None) -> None:
        self.epochs: list[dict[str, float]] = []
        self.warnings: list[str] = []
        self.artifacts: dict[str, bytes] = {}
        self.checks = 0
        self.stop_after_checks = stop_after_checks

    def epoch_end(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        self.epochs.append({"epoch": epoch, "step": step, **metrics})

    def warn(self, message: str, data: dict[str, Any]) -> None:
        self.warnings.append(message)

    def artifact(self, name: str, content: bytes, media_type: str) -> None:
        self.artifacts[name] = content

    def should_stop(self) -> bool:
        self.checks += 1
        return self.stop_after_checks is not None and self.checks >= self.stop_after_checks


def spec(**training: Any) -> RunSpec:
    return RunSpec.model_validate(
        {
            "dataset": "builtin:digits",
            "task": "classification",
            "model": {"type": "mlp", "hidden": [64], "init": "he_normal"},
            "training": {"epochs": 6, "batch_size": 64, **training},
        }
    )


CLASSIFY: dict[str, Any] = {
    "dataset": "builtin:digits",
    "task": "classification",
    "model": {"type": "mlp", "hidden": [32], "dropout": 0.2, "batchnorm": True},
    "training": {
        "epochs": 5,
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "scheduler": {"name": "cosine"},
        "early_stopping": {"metric": "val_loss", "patience": 10},
    },
}


class Crash(Exception):
    pass


class CrashingRecorder(Recorder):
    """Dies when asked to record `at_epoch`, after the previous epoch's checkpoint was written."""

    def __init__(self, at_epoch: int) -> None:
        super().__init__()
        self.at_epoch = at_epoch

    def epoch_end(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        if epoch == self.at_epoch:
            raise Crash
        super().epoch_end(epoch, step, metrics)


def stable(epochs: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in e.items() if k not in ("epoch_time", "samples_per_s")} for e in epochs]
