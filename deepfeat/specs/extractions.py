"""Batch extraction jobs: what users send to embed a whole dataset, and what the API answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from deepfeat.specs.base import ResponseModel, SpecModel

ExtractionStatus = Literal["queued", "running", "cancelling", "succeeded", "failed", "cancelled"]


class ExtractionRequest(SpecModel):
    encoder: str = Field(
        min_length=1,
        max_length=200,
        description="a catalogue name (`minilm-l6`) or a registered `name`, `name@3`, `name@prod`",
    )
    dataset: str = Field(
        min_length=1, max_length=200, description="`builtin:<name>`, a dataset id, `name` or `name@version`"
    )
    layer: str | None = Field(default=None, max_length=200, description="default: the encoder's")
    pool: Literal["mean", "max", "cls"] | None = Field(
        default=None, description="default `mean`; `none` is not offered: rows must be one vector each"
    )
    normalize: bool | None = Field(default=None, description="L2-normalise; default: the encoder's")
    precision: Literal["fp32", "bf16"] | None = Field(
        default=None,
        description="default: fp32 (exact; the server's `auto` is a per-batch choice of the serving path)",
    )
    device: Literal["cpu", "gpu"] = Field(
        default="cpu", description="`gpu`: the job goes to the `gpu` queue and runs on a worker's CUDA device"
    )


class ExtractionOut(ResponseModel):
    id: str
    status: ExtractionStatus
    encoder: str = Field(description="the resolved reference: `minilm-l6` or `name@version`")
    dataset_id: str
    dataset_sha256: str
    options: dict[str, Any] = Field(description="layer, pool, normalize, precision as the job runs them")
    attempt: int
    max_attempts: int
    progress: dict[str, Any] = Field(description="`rows_done`, `rows_total`")
    dim: int | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ExtractionPage(ResponseModel):
    data: list[ExtractionOut]
    next_after: str | None = Field(description="pass as `after` to get the next page; null on the last")
