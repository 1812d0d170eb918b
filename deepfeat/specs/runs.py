"""Run submissions and what the API answers about runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, Field, StringConstraints

from deepfeat.specs.base import ResponseModel, SpecModel
from deepfeat.specs.model import ModelSpec
from deepfeat.specs.training import TrainingSpec

Task = Literal["classification", "regression", "autoencoder", "gan"]
# `pruned`: a sweep's trial stopped early by the sweep's early termination (not a failure).
RunStatus = Literal["queued", "running", "cancelling", "succeeded", "failed", "cancelled", "pruned"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "pruned"})


# -- finding runs (issue 19): experiment, tags, metadata ------------------------------------------------
MAX_TAGS = 32
MAX_METADATA_PAIRS = 16  # OpenAI's limits for `metadata`: 16 pairs, keys ≤ 64 and values ≤ 512 characters
DEFAULT_EXPERIMENT = "default"
# What describes a run without changing what it trains: stored in columns of their own, not in `spec`.
FINDING_FIELDS = frozenset({"experiment", "tags", "metadata"})


def printable(text: str) -> str:
    """Refuse control characters and lone surrogates: no database stores them the same way."""
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError("control characters are not allowed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode (a lone surrogate)") from None
    return text


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


Label = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(printable)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(printable)]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_unique)]
MetaKey = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(printable)]
MetaValue = Annotated[str, StringConstraints(max_length=512), AfterValidator(printable)]
Metadata = Annotated[dict[MetaKey, MetaValue], Field(max_length=MAX_METADATA_PAIRS)]


class RunFinding(SpecModel):
    """`PATCH /v1/runs/{id}`: what is given replaces what the run had; absent fields stay as they are."""

    name: Label | None = None
    experiment: Label | None = None
    tags: Tags | None = None
    metadata: Metadata | None = Field(default=None, description=f"up to {MAX_METADATA_PAIRS} string pairs")
    add_tags: Tags = Field(default_factory=list, description="added to the run's tags (after `tags`)")
    remove_tags: Tags = Field(default_factory=list, description="removed from the run's tags (last)")


# -- end of finding runs --------------------------------------------------------------------------------


class RunSpec(SpecModel):
    name: str | None = Field(default=None, max_length=200)
    dataset: str = Field(
        min_length=1, max_length=200, description="`builtin:<name>` or the id of an uploaded dataset"
    )
    task: Task
    target: str | None = Field(default=None, max_length=200)
    model: ModelSpec
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    # -- finding runs (issue 19): kept beside the spec, editable later with PATCH /v1/runs/{id} --
    experiment: Label = Field(default=DEFAULT_EXPERIMENT, description="a name that groups runs")
    tags: Tags = Field(default_factory=list, description=f"up to {MAX_TAGS} labels, 1-64 characters")
    metadata: Metadata = Field(
        default_factory=dict, description=f"up to {MAX_METADATA_PAIRS} string pairs (keys ≤ 64, values ≤ 512)"
    )

    def trained_spec(self) -> dict[str, Any]:
        """The JSON of what trains: the spec without its finding fields (those have their own columns)."""
        return self.model_dump(mode="json", exclude=set(FINDING_FIELDS))


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
    experiment: str = DEFAULT_EXPERIMENT
    tags: list[str] = Field(default_factory=list)
    # The ORM attribute is `run_metadata` (SQLAlchemy owns `metadata`); JSON answers say `metadata`.
    metadata: dict[str, str] = Field(
        default_factory=dict, validation_alias=AliasChoices("run_metadata", "metadata")
    )
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
