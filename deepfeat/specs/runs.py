"""Run submissions and what the API answers about runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from deepfeat.specs.base import ResponseModel, SpecModel
from deepfeat.specs.model import ModelSpec
from deepfeat.specs.training import TrainingSpec

Task = Literal["classification", "regression", "autoencoder", "gan"]
# `pruned`: a sweep's trial stopped early by the sweep's early termination (not a failure).
RunStatus = Literal["queued", "running", "cancelling", "succeeded", "failed", "cancelled", "pruned"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "pruned"})


class RunSpec(SpecModel):
    name: str | None = Field(default=None, max_length=200)
    dataset: str = Field(
        min_length=1, max_length=200, description="`builtin:<name>` or the id of an uploaded dataset"
    )
    task: Task
    target: str | None = Field(default=None, max_length=200)
    model: ModelSpec
    training: TrainingSpec = Field(default_factory=TrainingSpec)


class ValidationReport(ResponseModel):
    params: int
    trainable_params: int
    flops: int = Field(description="forward FLOPs per sample (2 × multiply-adds)")
    flops_per_sample: int = Field(description="the same as `flops`, named for clarity")
    input_shape: list[int]
    output_shape: list[int]
    memory_estimate: int = Field(description="bytes for one training step at the spec's batch size")


class RunOut(ResponseModel):
    id: str
    name: str
    status: RunStatus
    task: str
    dataset_id: str
    dataset_sha256: str
    device: str
    attempt: int
    max_attempts: int
    progress: dict[str, Any]
    best_metrics: dict[str, Any]
    error: str | None
    spec: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queue_position: int | None = Field(
        default=None,
        description="while queued: 1-based place among this project's queued runs (oldest first); "
        "it starts when a worker is free and the project is under its concurrent-run cap",
    )


class RunPage(ResponseModel):
    data: list[RunOut]
    next_after: str | None = Field(description="pass as `after` to get the next page; null on the last")


class MetricOut(ResponseModel):
    step: int
    epoch: int
    key: str
    value: float


class EventOut(ResponseModel):
    id: int
    kind: str
    level: str
    message: str
    data: dict[str, Any]
    created_at: datetime


class ArtifactOut(ResponseModel):
    name: str
    media_type: str
    sha256: str
    size_bytes: int
    created_at: datetime
