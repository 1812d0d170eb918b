"""Every request the clients send, built once: `Client` and `AsyncClient` only send them.

A builder returns a `Call` (method, path, httpx arguments, how to read the answer) or a `Pages` (a
listing read to its end). No I/O happens here, so the sync and the async client cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
from pydantic import BaseModel

from deepfeat.client.local import SpecLike, load_spec
from deepfeat.client.models import ArtifactOut, Embeddings, EncoderOut, ExtractionOut, KeyOut
from deepfeat.specs.datasets import DatasetOut
from deepfeat.specs.inference import PredictResponse, SamplesResponse, ScoreResponse
from deepfeat.specs.projects import ProjectOut
from deepfeat.specs.runs import EventOut, MetricOut, RunOut, ValidationReport
from deepfeat.specs.sweeps import SweepOut

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[Any], T]  # the decoded JSON answer → what the method returns
    kwargs: dict[str, Any] = field(default_factory=dict)
    retry: bool = True  # False for bodies that cannot be sent twice (a streamed upload)


@dataclass(frozen=True)
class Pages(Generic[M]):
    """A cursor-paged listing (`{data, next_after}`), read page after page until `next_after` is null."""

    path: str
    model: type[M]
    page_size: int
    params: dict[str, Any] = field(default_factory=dict)

    def page(self, after: str | None) -> Call[tuple[list[M], str | None]]:
        query = {
            k: v for k, v in {**self.params, "after": after, "limit": self.page_size}.items() if v is not None
        }
        return Call("GET", self.path, self._read, {"params": query})

    def _read(self, body: Any) -> tuple[list[M], str | None]:
        return [self.model.model_validate(item) for item in body["data"]], body.get("next_after")


def _model(model: type[M]) -> Callable[[Any], M]:
    return model.model_validate


def _models(model: type[M]) -> Callable[[Any], list[M]]:
    return lambda body: [model.model_validate(item) for item in body]


def _ignore(_: Any) -> None:
    return None


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def ready() -> Call[dict[str, Any]]:
    return Call("GET", "/readyz", dict, retry=False)  # a 503 here is the answer, not a hiccup


def create_builtin(builtin: str, name: str | None) -> Call[DatasetOut]:
    body = {"builtin": builtin.removeprefix("builtin:"), **_given(name=name)}
    return Call("POST", "/v1/datasets", _model(DatasetOut), {"json": body})


def upload_dataset(form: dict[str, str], files: dict[str, Any]) -> Call[DatasetOut]:
    return Call("POST", "/v1/datasets", _model(DatasetOut), {"data": form, "files": files}, retry=False)


def upload_form(fields: dict[str, Any]) -> dict[str, str]:
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items() if v is not None}


def datasets(page_size: int) -> Pages[DatasetOut]:
    return Pages("/v1/datasets", DatasetOut, page_size)


def dataset(dataset_id: str) -> Call[DatasetOut]:
    return Call("GET", f"/v1/datasets/{dataset_id}", _model(DatasetOut))


def delete_dataset(dataset_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/datasets/{dataset_id}", _ignore)


def validate(spec: SpecLike) -> Call[ValidationReport]:
    return Call("POST", "/v1/runs:validate", _model(ValidationReport), {"json": load_spec(spec)})


def submit(spec: SpecLike, idempotency_key: str | None, overrides: dict[str, Any]) -> Call[RunOut]:
    doc = {**load_spec(spec), **_given(**overrides)}
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return Call("POST", "/v1/runs", _model(RunOut), {"json": doc, "headers": headers})


def runs(status: str | None, page_size: int, search: dict[str, Any] | None = None) -> Pages[RunOut]:
    """`search`: `experiment`, `tag` (a list: runs with every one), `filter`, `sort`, `order`."""
    return Pages("/v1/runs", RunOut, page_size, _given(status=status, **(search or {})))


def run_search(
    experiment: str | None, tags: Sequence[str], filter: str | None, sort: str | None, order: str | None
) -> dict[str, Any]:
    """The query of `GET /v1/runs` that narrows and orders it (None: not asked)."""
    return {
        "experiment": experiment,
        "tag": list(tags) or None,
        "filter": filter,
        "sort": sort,
        "order": order,
    }


def update_run(run_id: str, change: dict[str, Any]) -> Call[RunOut]:
    return Call("PATCH", f"/v1/runs/{run_id}", _model(RunOut), {"json": change})


def run(run_id: str) -> Call[RunOut]:
    return Call("GET", f"/v1/runs/{run_id}", _model(RunOut))


def cancel(run_id: str) -> Call[RunOut]:
    return Call("POST", f"/v1/runs/{run_id}/cancel", _model(RunOut))


def metrics(run_id: str, key: str | None) -> Call[list[MetricOut]]:
    return Call("GET", f"/v1/runs/{run_id}/metrics", _models(MetricOut), {"params": _given(key=key)})


def events(run_id: str, after: int | None, page_size: int) -> Call[list[EventOut]]:
    params = {"limit": page_size, **_given(after=after)}
    return Call("GET", f"/v1/runs/{run_id}/events", _models(EventOut), {"params": params})


def artifacts(run_id: str) -> Call[list[ArtifactOut]]:
    return Call("GET", f"/v1/runs/{run_id}/artifacts", _models(ArtifactOut))


def listed(inputs: Sequence[Any]) -> list[Any]:
    """Inputs as JSON lists, whether given as lists or as a numpy array."""
    return (
        inputs.tolist()
        if isinstance(inputs, np.ndarray)
        else [x.tolist() if isinstance(x, np.ndarray) else x for x in inputs]
    )


def predict(run_id: str, inputs: Sequence[Any]) -> Call[PredictResponse]:
    body = {"inputs": listed(inputs)}
    return Call("POST", f"/v1/runs/{run_id}/predict", _model(PredictResponse), {"json": body})


def score(run_id: str, inputs: Sequence[Any], fpr: float | None) -> Call[ScoreResponse]:
    body = {"inputs": listed(inputs), **_given(fpr=fpr)}
    return Call("POST", f"/v1/runs/{run_id}/score", _model(ScoreResponse), {"json": body})


def _samples_array(body: Any) -> np.ndarray[Any, Any]:
    answer = SamplesResponse.model_validate(body)
    return np.asarray(answer.samples, dtype=np.float32).reshape(len(answer.samples), *answer.shape)


def samples(run_id: str, n: int, seed: int | None, label: str | int | None) -> Call[np.ndarray[Any, Any]]:
    body = {"n": n, **_given(seed=seed, label=label)}
    return Call("POST", f"/v1/runs/{run_id}/samples", _samples_array, {"json": body})


def encoders(page_size: int) -> Pages[EncoderOut]:
    return Pages("/v1/encoders", EncoderOut, page_size)


def register_encoder(run_id: str, name: str, layer: str | None) -> Call[EncoderOut]:
    body = {"run_id": run_id, "name": name, **_given(layer=layer)}
    return Call("POST", "/v1/encoders", _model(EncoderOut), {"json": body})


def _embeddings_array(body: Any) -> np.ndarray[Any, np.dtype[np.float32]]:
    answer = Embeddings.model_validate(body)
    return np.asarray(answer.embeddings, dtype=np.float32).reshape(len(answer.embeddings), -1)


def embed(
    encoder: str, inputs: Sequence[Any], layer: str | None, pool: str | None, normalize: bool | None
) -> Call[np.ndarray[Any, np.dtype[np.float32]]]:
    body = {"inputs": list(inputs), **_given(layer=layer, pool=pool, normalize=normalize)}
    return Call("POST", f"/v1/encoders/{encoder}/embed", _embeddings_array, {"json": body})


def extract(
    encoder: str, dataset: str, layer: str | None, pool: str | None, normalize: bool | None
) -> Call[ExtractionOut]:
    body = {"encoder": encoder, "dataset": dataset, **_given(layer=layer, pool=pool, normalize=normalize)}
    return Call("POST", "/v1/extractions", _model(ExtractionOut), {"json": body})


def extraction(extraction_id: str) -> Call[ExtractionOut]:
    return Call("GET", f"/v1/extractions/{extraction_id}", _model(ExtractionOut))


def extractions(status: str | None, page_size: int) -> Pages[ExtractionOut]:
    return Pages("/v1/extractions", ExtractionOut, page_size, _given(status=status))


def cancel_extraction(extraction_id: str) -> Call[ExtractionOut]:
    return Call("POST", f"/v1/extractions/{extraction_id}/cancel", _model(ExtractionOut))


def create_key(name: str, scope: str) -> Call[KeyOut]:
    return Call("POST", "/v1/keys", _model(KeyOut), {"json": {"name": name, "scope": scope}})


def keys(page_size: int) -> Pages[KeyOut]:
    return Pages("/v1/keys", KeyOut, page_size)


def revoke_key(key_id: str) -> Call[KeyOut]:
    return Call("POST", f"/v1/keys/{key_id}:revoke", _model(KeyOut))


# -- sweeps ---------------------------------------------------------------------------------------------
def create_sweep(spec: SpecLike) -> Call[SweepOut]:
    return Call("POST", "/v1/sweeps", _model(SweepOut), {"json": load_spec(spec)})


def sweeps(status: str | None, page_size: int) -> Pages[SweepOut]:
    return Pages("/v1/sweeps", SweepOut, page_size, _given(status=status))


def sweep(sweep_id: str) -> Call[SweepOut]:
    return Call("GET", f"/v1/sweeps/{sweep_id}", _model(SweepOut))


def cancel_sweep(sweep_id: str) -> Call[SweepOut]:
    return Call("POST", f"/v1/sweeps/{sweep_id}/cancel", _model(SweepOut))


# -- projects (deployment admin) --------------------------------------------------------------------------
def create_project(name: str) -> Call[ProjectOut]:
    return Call("POST", "/v1/projects", _model(ProjectOut), {"json": {"name": name}})


def projects(page_size: int) -> Pages[ProjectOut]:
    return Pages("/v1/projects", ProjectOut, page_size)


def project(ref: str) -> Call[ProjectOut]:
    return Call("GET", f"/v1/projects/{ref}", _model(ProjectOut))


def create_project_key(ref: str, name: str, scope: str) -> Call[KeyOut]:
    return Call("POST", f"/v1/projects/{ref}/keys", _model(KeyOut), {"json": {"name": name, "scope": scope}})


def project_keys(ref: str) -> Call[list[KeyOut]]:
    return Call("GET", f"/v1/projects/{ref}/keys", lambda body: _models(KeyOut)(body["data"]))
