"""Workers as `GET /v1/workers` shows them: shared infrastructure, with other projects' runs unnamed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from deepfeat.specs.base import ResponseModel


class SlotOut(ResponseModel):
    index: int | None = Field(description="the pool process's index (0..concurrency-1)")
    pid: int | None
    device: str = Field(
        description="where its runs and extractions run: `cpu` or `cuda:k` (torch's numbering)"
    )
    gpu: str | None = Field(description="that GPU as CUDA_VISIBLE_DEVICES names it; null on the CPU")
    state: Literal["idle", "busy"]
    run_id: str | None = Field(description="as for the worker: named only when the run is your project's")


class WorkerOut(ResponseModel):
    id: str = Field(description="the Celery node name, e.g. `deepfeat-1234@host`")
    hostname: str
    pid: int
    device: str = Field(description="`cpu` or `cuda`")
    device_name: str = Field(description="e.g. `NVIDIA H200` or `cpu (16 cores)`")
    queues: list[str]
    concurrency: int
    state: Literal["idle", "busy"]
    run_id: str | None = Field(
        description="the run it trains, when that run is your project's; null when idle or another project's"
    )
    slots: list[SlotOut] = Field(
        default=[], description="its pool processes, each with its own device (GPU `index mod G`)"
    )
    started_at: datetime
    last_seen: datetime


class WorkerList(ResponseModel):
    data: list[WorkerOut]
    stale_after_s: float = Field(description="workers silent for longer are taken for dead and not listed")
