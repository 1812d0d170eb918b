"""Requests to and answers from trained runs: predictions, anomaly scores, generated samples."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from deepfeat.specs.base import ResponseModel, SpecModel

# One input: numbers, nested to the dataset's input shape or flat.
Nested = list[Any]


class PredictRequest(SpecModel):
    inputs: list[Nested | float | str] = Field(
        min_length=1,
        description="inputs in the dataset's input shape, or flat; strings for runs trained on text",
    )


class PredictResponse(ResponseModel):
    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[str] | None = None


class ScoreRequest(PredictRequest):
    fpr: float | None = Field(default=None, gt=0, lt=1, description="false-positive rate for the threshold")


class ScoreResponse(ResponseModel):
    scores: list[float]
    threshold: float
    fpr: float
    is_anomaly: list[bool]


class SamplesRequest(SpecModel):
    n: int = Field(default=16, ge=1, le=1024)
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    label: str | int | None = Field(
        default=None, description="conditional GANs: the class to sample (its name, or its label code)"
    )


class SamplesResponse(ResponseModel):
    samples: list[Any]
    shape: list[int]
