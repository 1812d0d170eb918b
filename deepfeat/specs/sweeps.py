"""Sweep submissions, in the shape W&B users know, and what the API answers about sweeps."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from deepfeat.specs.base import ResponseModel, SpecModel
from deepfeat.specs.runs import RunSpec

Distribution = Literal["constant", "categorical", "uniform", "log_uniform_values", "int_uniform", "q_uniform"]
SweepStatus = Literal["running", "finished", "cancelled", "failed"]
SWEEP_TERMINAL: frozenset[str] = frozenset({"finished", "cancelled", "failed"})
# A dotted path into the run spec, e.g. `training.optimizer.lr`, `model.hidden`.
ParameterPath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$", max_length=200)
]
MAX_VALUES = 256


class ParameterSpec(SpecModel):
    """One swept value: `values` (a choice), `value` (fixed), or a `distribution` over `min`…`max`."""

    values: list[Any] | None = Field(default=None, min_length=1, max_length=MAX_VALUES)
    value: Any = None
    distribution: Distribution | None = None
    min: float | None = None
    max: float | None = None
    q: float | None = Field(default=None, gt=0, description="q_uniform: the step between values")

    @model_validator(mode="after")
    def _one_form(self) -> ParameterSpec:
        dist = self.distribution or (
            "categorical" if self.values is not None else "constant" if self.value is not None else None
        )
        if dist is None:
            raise ValueError("give `values`, `value`, or a `distribution` with `min` and `max`")
        if dist == "categorical" and self.values is None:
            raise ValueError("`categorical` needs `values`")
        if dist == "constant" and self.value is None:
            raise ValueError("`constant` needs `value`")
        if dist in ("uniform", "log_uniform_values", "int_uniform", "q_uniform"):
            if self.min is None or self.max is None:
                raise ValueError(f"`{dist}` needs `min` and `max`")
            if not (math.isfinite(self.min) and math.isfinite(self.max)) or self.min >= self.max:
                raise ValueError("`min` must be below `max` (both finite)")
            if dist == "log_uniform_values" and self.min <= 0:
                raise ValueError("`log_uniform_values` needs `min` > 0")
            if dist == "int_uniform" and not (self.min.is_integer() and self.max.is_integer()):
                raise ValueError("`int_uniform` needs whole `min` and `max`")
            if dist == "q_uniform" and self.q is None:
                raise ValueError("`q_uniform` needs `q`")
        return self

    @property
    def kind(self) -> Distribution:
        if self.distribution is not None:
            return self.distribution
        return "categorical" if self.values is not None else "constant"


class MetricSpec(SpecModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$", examples=["val_accuracy"])
    goal: Literal["minimize", "maximize"]


class EarlyTerminateSpec(SpecModel):
    """Stop trials that are doing worse than the others, judged on the metric after each epoch."""

    type: Literal["hyperband", "median"]
    min_iter: int = Field(default=1, ge=1, description="epochs before a trial may be stopped")
    max_iter: int | None = Field(
        default=None, ge=1, description="hyperband: the most epochs a trial gets (default: the base's)"
    )
    eta: int = Field(default=3, ge=2, le=10, description="hyperband: the reduction factor")


class SweepSpec(SpecModel):
    name: str | None = Field(default=None, max_length=200)
    base: RunSpec
    method: Literal["grid", "random", "bayes"]
    metric: MetricSpec
    parameters: dict[ParameterPath, ParameterSpec] = Field(min_length=1, max_length=32)
    run_cap: int | None = Field(
        default=None, ge=1, le=1000, description="trials in all (grid: at most the grid's size)"
    )
    parallelism: int = Field(default=1, ge=1, le=64, description="trials training at once")
    early_terminate: EarlyTerminateSpec | None = None
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="the sampler's seed")


class SweepTrialOut(ResponseModel):
    number: int
    run_id: str
    status: str
    params: dict[str, Any]
    metric: float | None
    epochs: int = Field(description="epochs the trial trained")


class SweepOut(ResponseModel):
    id: str
    name: str
    status: SweepStatus
    method: str
    metric: MetricSpec
    run_cap: int
    parallelism: int
    error: str | None
    best_run_id: str | None
    best_metric: float | None
    trials: list[SweepTrialOut]
    spec: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None


class SweepPage(ResponseModel):
    data: list[SweepOut]
    next_after: str | None
