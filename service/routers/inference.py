"""Trained runs at work: /v1/runs/{id}/predict, /score, /samples."""

from __future__ import annotations

from fastapi import APIRouter

from deepfeat.services import inference
from deepfeat.services.encoders import EncoderService
from deepfeat.specs.inference import (
    PredictRequest,
    PredictResponse,
    SamplesRequest,
    SamplesResponse,
    ScoreRequest,
    ScoreResponse,
)
from service.deps import DbSession, Reader, State

router = APIRouter(prefix="/v1/runs", tags=["inference"])


def _load(run_id: str, who: Reader, session: DbSession, state: State) -> inference.TrainedModel:
    return EncoderService(session, who.project_id, state.settings, state.store).trained(run_id)


@router.post("/{run_id}/predict", response_model=PredictResponse)
def predict(
    run_id: str, body: PredictRequest, who: Reader, session: DbSession, state: State
) -> PredictResponse:
    """Classes (with probabilities) or values for inputs shaped like the run's dataset."""
    trained = _load(run_id, who, session, state)
    x = inference.to_batch(trained, body.inputs, state.settings.max_inputs_per_request)
    return PredictResponse.model_validate(inference.predict(trained, x))


@router.post("/{run_id}/score", response_model=ScoreResponse)
def score(run_id: str, body: ScoreRequest, who: Reader, session: DbSession, state: State) -> ScoreResponse:
    """Autoencoder anomaly scores: reconstruction error, a threshold at `fpr`, and the verdicts."""
    trained = _load(run_id, who, session, state)
    x = inference.to_batch(trained, body.inputs, state.settings.max_inputs_per_request)
    return ScoreResponse.model_validate(inference.score(trained, x, body.fpr))


@router.post("/{run_id}/samples", response_model=SamplesResponse)
def samples(
    run_id: str, body: SamplesRequest, who: Reader, session: DbSession, state: State
) -> SamplesResponse:
    """Samples from a GAN's generator, in the data's own units; `seed` makes them repeatable; `label`
    picks the class of a conditional GAN's samples."""
    trained = _load(run_id, who, session, state)
    return SamplesResponse.model_validate(inference.samples(trained, body.n, body.seed, body.label))
