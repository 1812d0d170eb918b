"""Trained runs at work: /v1/runs/{id}/predict, /score, /samples."""

from __future__ import annotations

from fastapi import APIRouter

from deepfeat.services import inference
from deepfeat.specs.inference import (
    PredictRequest,
    PredictResponse,
    SamplesRequest,
    SamplesResponse,
    ScoreRequest,
    ScoreResponse,
)
from service.deps import EncoderServiceDep, State
from service.routing import OneHopRoute

router = APIRouter(route_class=OneHopRoute, prefix="/v1/runs", tags=["inference"])


@router.post("/{run_id}/predict", response_model=PredictResponse)
def predict(run_id: str, body: PredictRequest, service: EncoderServiceDep, state: State) -> PredictResponse:
    """Classes (with probabilities) or values for inputs shaped like the run's dataset."""
    trained = service.trained(run_id)
    x = inference.to_batch(trained, body.inputs, state.settings.max_inputs_per_request)
    return PredictResponse.model_validate(inference.predict(trained, x))


@router.post("/{run_id}/score", response_model=ScoreResponse)
def score(run_id: str, body: ScoreRequest, service: EncoderServiceDep, state: State) -> ScoreResponse:
    """Autoencoder anomaly scores: reconstruction error, a threshold at `fpr`, and the verdicts."""
    trained = service.trained(run_id)
    x = inference.to_batch(trained, body.inputs, state.settings.max_inputs_per_request)
    return ScoreResponse.model_validate(inference.score(trained, x, body.fpr))


@router.post("/{run_id}/samples", response_model=SamplesResponse)
def samples(run_id: str, body: SamplesRequest, service: EncoderServiceDep) -> SamplesResponse:
    """Samples from a GAN's generator, in the data's own units; `seed` makes them repeatable; `label`
    picks the class of a conditional GAN's samples."""
    trained = service.trained(run_id)
    return SamplesResponse.model_validate(inference.samples(trained, body.n, body.seed, body.label))
