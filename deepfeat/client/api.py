"""`Client`: every deepfeat route as a method, answers typed with the server's own pydantic models."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import numpy as np
from pydantic import BaseModel

from deepfeat.client.errors import ClientError, ServerUnreachable, WaitTimeout, raise_for_error, reason
from deepfeat.client.local import DEFAULT_URL, SpecLike, default_key, load_spec
from deepfeat.client.models import ArtifactOut, Embeddings, EncoderOut, ExtractionOut, KeyOut
from deepfeat.client.projects import ProjectsAPI
from deepfeat.specs.datasets import DatasetOut
from deepfeat.specs.inference import PredictResponse, SamplesResponse, ScoreResponse
from deepfeat.specs.runs import TERMINAL_STATUSES, EventOut, MetricOut, RunOut, ValidationReport
from deepfeat.specs.sweeps import SweepOut

M = TypeVar("M", bound=BaseModel)


class Client(ProjectsAPI):
    """A deepfeat server at `url` (default DEEPFEAT_URL, then http://127.0.0.1:8000) used with `key`."""

    def __init__(self, url: str | None = None, key: str | None = None, *, timeout: float = 30.0) -> None:
        self.url = (url or os.environ.get("DEEPFEAT_URL") or DEFAULT_URL).rstrip("/")
        self.key = key if key is not None else default_key(self.url)
        headers = {"User-Agent": "deepfeat-client"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachable(self.url, reason(exc)) from None
        raise_for_error(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _pages(self, path: str, model: type[M], page_size: int, **params: Any) -> Iterator[M]:
        after: str | None = None
        while True:
            query = {k: v for k, v in {**params, "after": after, "limit": page_size}.items() if v is not None}
            page = self._json("GET", path, params=query)
            for item in page["data"]:
                yield model.model_validate(item)
            after = page.get("next_after")
            if not after:
                return

    # -- health ---------------------------------------------------------------------------------------
    def ready(self) -> dict[str, Any]:
        """`/readyz`: raises DeepfeatAPIError(503) naming the dependency that is down."""
        body: dict[str, Any] = self._json("GET", "/readyz")
        return body

    # -- datasets -------------------------------------------------------------------------------------
    def create_builtin(self, builtin: str, *, name: str | None = None) -> DatasetOut:
        body = {"builtin": builtin.removeprefix("builtin:"), **({"name": name} if name else {})}
        return DatasetOut.model_validate(self._json("POST", "/v1/datasets", json=body))

    def upload_dataset(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        format: str | None = None,
        target: str | None = None,
        **options: str | int | float | bool,
    ) -> DatasetOut:
        """Upload a file (CSV/TSV, Parquet, NPZ, JSONL, ZIP of image folders), streamed as multipart `file`.

        `name`, `format`, `target` and any further upload `options` (e.g. `missing="impute"`,
        `image_size="64x48"`) travel as form fields; the server detects what is left out.
        """
        path = Path(path)
        fields = {"name": name, "format": format, "target": target, **options}
        form = {
            k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items() if v is not None
        }
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ClientError(f"cannot read {path}: {exc.strerror or exc}") from None
        with handle:
            files = {"file": (path.name, handle, "application/octet-stream")}
            return DatasetOut.model_validate(self._json("POST", "/v1/datasets", data=form, files=files))

    def datasets(self, *, page_size: int = 100) -> Iterator[DatasetOut]:
        """Every dataset of the key's project, following the pages."""
        return self._pages("/v1/datasets", DatasetOut, page_size)

    def dataset(self, dataset_id: str) -> DatasetOut:
        return DatasetOut.model_validate(self._json("GET", f"/v1/datasets/{dataset_id}"))

    def delete_dataset(self, dataset_id: str) -> None:
        """Delete a dataset; DeepfeatAPIError(409) while a queued or running run uses it."""
        self._request("DELETE", f"/v1/datasets/{dataset_id}")

    # -- runs -----------------------------------------------------------------------------------------
    def validate(self, spec: SpecLike) -> ValidationReport:
        """Dry-run a spec: parameters, FLOPs, shapes and memory, or DeepfeatAPIError(422) with `loc`."""
        return ValidationReport.model_validate(self._json("POST", "/v1/runs:validate", json=load_spec(spec)))

    def submit(self, spec: SpecLike, *, idempotency_key: str | None = None, **overrides: Any) -> RunOut:
        """Queue a run from a dict, a RunSpec or a .json/.yaml path; `overrides` replace top-level fields."""
        doc = {**load_spec(spec), **{k: v for k, v in overrides.items() if v is not None}}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return RunOut.model_validate(self._json("POST", "/v1/runs", json=doc, headers=headers))

    def runs(
        self,
        *,
        status: str | None = None,
        limit: int | None = None,
        page_size: int = 50,
        experiment: str | None = None,
        tags: Sequence[str] = (),
        filter: str | None = None,
        sort: str | None = None,
        order: str | None = None,
    ) -> Iterator[RunOut]:
        """Runs, newest first (or by `sort="metrics.<key>"`), across pages; at most `limit` of them.
        `tags`: runs with every one; `filter`: the filter language (docs/api.md)."""
        search = {
            "experiment": experiment,
            "tag": list(tags) or None,
            "filter": filter,
            "sort": sort,
            "order": order,
        }
        for i, run in enumerate(self._pages("/v1/runs", RunOut, page_size, status=status, **search)):
            if limit is not None and i >= limit:
                return
            yield run

    def run(self, run_id: str) -> RunOut:
        return RunOut.model_validate(self._json("GET", f"/v1/runs/{run_id}"))

    def wait(
        self,
        run_id: str,
        *,
        on_progress: Callable[[RunOut], None] | None = None,
        timeout: float | None = None,
        interval: float = 0.25,
        max_interval: float = 2.0,
    ) -> RunOut:
        """Poll until the run ends and return it (whatever its status); `on_progress` sees every change.

        The poll interval grows ×1.5 up to `max_interval` while nothing changes and drops back on
        progress, so a watched run costs a few requests per epoch. Raises WaitTimeout after `timeout`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: tuple[str, str] | None = None
        delay = interval
        while True:
            run = self.run(run_id)
            state = (run.status, json.dumps(run.progress, sort_keys=True))
            if state != seen:
                seen, delay = state, interval
                if on_progress is not None:
                    on_progress(run)
            else:
                delay = min(delay * 1.5, max_interval)
            if run.status in TERMINAL_STATUSES:
                return run
            if deadline is not None and time.monotonic() + delay > deadline:
                raise WaitTimeout(run, timeout or 0.0)
            time.sleep(delay)

    def update_run(self, run_id: str, **change: Any) -> RunOut:
        """PATCH a run's `name`, `experiment`, `tags`, `metadata`, `add_tags` or `remove_tags`."""
        return RunOut.model_validate(self._json("PATCH", f"/v1/runs/{run_id}", json=change))

    def cancel(self, run_id: str) -> RunOut:
        """Ask a run to stop; DeepfeatAPIError(409) when it has already ended."""
        return RunOut.model_validate(self._json("POST", f"/v1/runs/{run_id}/cancel"))

    def metrics(self, run_id: str, *, key: str | None = None) -> list[MetricOut]:
        params = {"key": key} if key else None
        return [
            MetricOut.model_validate(m)
            for m in self._json("GET", f"/v1/runs/{run_id}/metrics", params=params)
        ]

    def events(self, run_id: str, *, after: int | None = None, page_size: int = 100) -> list[EventOut]:
        """The run's whole event log from `after` on (every page)."""
        events: list[EventOut] = []
        while True:
            params = {"limit": page_size, **({"after": after} if after is not None else {})}
            page = [
                EventOut.model_validate(e)
                for e in self._json("GET", f"/v1/runs/{run_id}/events", params=params)
            ]
            events += page
            if len(page) < page_size:
                return events
            after = page[-1].id

    def artifacts(self, run_id: str) -> list[ArtifactOut]:
        return [ArtifactOut.model_validate(a) for a in self._json("GET", f"/v1/runs/{run_id}/artifacts")]

    def download(self, run_id: str, name: str, dest: str | Path | None = None) -> Path:
        """Stream an artifact to `dest` (a file, or a folder to put `name` in; default: here).

        The bytes are checked against the sha256 the server sends; a mismatch leaves no file.
        """
        return self._download(f"/v1/runs/{run_id}/artifacts/{name}", name, dest, f"run {run_id}")

    def _download(self, path: str, name: str, dest: str | Path | None, owner: str) -> Path:
        target = Path(dest) if dest is not None else Path(name)
        if target.is_dir():
            target = target / name
        partial = target.with_name(target.name + ".part")
        digest = hashlib.sha256()
        try:
            with self._http.stream("GET", path) as response:
                if response.is_error:
                    response.read()
                    raise_for_error(response)
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        digest.update(chunk)
                        out.write(chunk)
                expected = response.headers.get("X-Content-SHA256")
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise ServerUnreachable(self.url, reason(exc)) from None
        if expected and expected != digest.hexdigest():
            partial.unlink(missing_ok=True)
            raise ClientError(f"artifact {name} of {owner} arrived corrupted (sha256 mismatch)")
        partial.replace(target)
        return target

    # -- trained runs at work -------------------------------------------------------------------------
    def predict(self, run_id: str, inputs: Sequence[Any]) -> PredictResponse:
        """Classes (with probabilities) or values for inputs shaped like the run's dataset (or flat)."""
        body = {"inputs": _listed(inputs)}
        return PredictResponse.model_validate(self._json("POST", f"/v1/runs/{run_id}/predict", json=body))

    def score(self, run_id: str, inputs: Sequence[Any], *, fpr: float | None = None) -> ScoreResponse:
        """Autoencoder anomaly scores, the threshold at `fpr`, and which inputs are anomalies."""
        body = {"inputs": _listed(inputs), **({"fpr": fpr} if fpr is not None else {})}
        return ScoreResponse.model_validate(self._json("POST", f"/v1/runs/{run_id}/score", json=body))

    def samples(
        self, run_id: str, n: int = 16, *, seed: int | None = None, label: str | int | None = None
    ) -> np.ndarray[Any, Any]:
        """`n` samples from a GAN run's generator: an (n, *shape) array, `shape` being one sample's;
        `label`: the class a conditional GAN's samples are of."""
        body: dict[str, Any] = {"n": n, **({"seed": seed} if seed is not None else {})}
        if label is not None:
            body["label"] = label
        answer = SamplesResponse.model_validate(self._json("POST", f"/v1/runs/{run_id}/samples", json=body))
        return np.asarray(answer.samples, dtype=np.float32).reshape(len(answer.samples), *answer.shape)

    # -- encoders and embeddings (need the encoders feature on the server) ----------------------------
    def encoders(self) -> list[EncoderOut]:
        body = self._json("GET", "/v1/encoders")
        return [EncoderOut.model_validate(e) for e in (body["data"] if isinstance(body, dict) else body)]

    def register_encoder(self, run_id: str, name: str, *, layer: str | None = None) -> EncoderOut:
        body = {"run_id": run_id, "name": name, **({"layer": layer} if layer else {})}
        return EncoderOut.model_validate(self._json("POST", "/v1/encoders", json=body))

    def embed(
        self,
        encoder: str,
        inputs: Sequence[Any],
        *,
        layer: str | None = None,
        pool: str | None = None,
        normalize: bool | None = None,
    ) -> np.ndarray[Any, np.dtype[np.float32]]:
        """Embeddings of `inputs` (texts, base64 images or numeric rows) as an (n, dim) float32 array."""
        body: dict[str, Any] = {"inputs": list(inputs)}
        body |= {
            k: v for k, v in {"layer": layer, "pool": pool, "normalize": normalize}.items() if v is not None
        }
        answer = Embeddings.model_validate(self._json("POST", f"/v1/encoders/{encoder}/embed", json=body))
        return np.asarray(answer.embeddings, dtype=np.float32).reshape(len(answer.embeddings), -1)

    def extract(
        self,
        encoder: str,
        dataset: str,
        *,
        layer: str | None = None,
        pool: str | None = None,
        normalize: bool | None = None,
    ) -> ExtractionOut:
        """Start a batch job that embeds a whole dataset into an `embeddings.npy` artifact."""
        body: dict[str, Any] = {"encoder": encoder, "dataset": dataset}
        body |= {
            k: v for k, v in {"layer": layer, "pool": pool, "normalize": normalize}.items() if v is not None
        }
        return ExtractionOut.model_validate(self._json("POST", "/v1/extractions", json=body))

    def extraction(self, extraction_id: str) -> ExtractionOut:
        return ExtractionOut.model_validate(self._json("GET", f"/v1/extractions/{extraction_id}"))

    def extractions(self, *, status: str | None = None, page_size: int = 100) -> Iterator[ExtractionOut]:
        """Every extraction job of the project, newest first (pages fetched as you iterate)."""
        params = {"status": status} if status else {}
        return self._pages("/v1/extractions", ExtractionOut, page_size, **params)

    def cancel_extraction(self, extraction_id: str) -> ExtractionOut:
        return ExtractionOut.model_validate(self._json("POST", f"/v1/extractions/{extraction_id}/cancel"))

    def download_extraction(
        self, extraction_id: str, name: str = "embeddings.npy", dest: str | Path | None = None
    ) -> Path:
        """`embeddings.npy` (float32, N×dim) or `row_ids.npy` of a succeeded job, sha256-checked."""
        path = f"/v1/extractions/{extraction_id}/artifacts/{name}"
        return self._download(path, name, dest, f"extraction {extraction_id}")

    def export_encoder(
        self, ref: str, *, format: str = "safetensors", dest: str | Path | None = None
    ) -> Path:
        """A registered encoder as a zip: `model.safetensors` (or `model.onnx`) + `spec.json`."""
        name = f"{ref.replace('@', '-')}-{format}.zip"
        return self._download(f"/v1/encoders/{ref}/export?format={format}", name, dest, f"encoder {ref}")

    # -- keys (admin; need the access feature on the server) ------------------------------------------
    def create_key(self, name: str, *, scope: str = "write") -> KeyOut:
        """A new key of this project; its secret is in `.key` of the answer and shown only once."""
        return KeyOut.model_validate(self._json("POST", "/v1/keys", json={"name": name, "scope": scope}))

    def keys(self) -> list[KeyOut]:
        body = self._json("GET", "/v1/keys")
        return [KeyOut.model_validate(k) for k in (body["data"] if isinstance(body, dict) else body)]

    def revoke_key(self, key_id: str) -> KeyOut:
        return KeyOut.model_validate(self._json("POST", f"/v1/keys/{key_id}:revoke"))

    # -- sweeps ---------------------------------------------------------------------------------------
    def create_sweep(self, spec: SpecLike) -> SweepOut:
        """Start a sweep from a dict or a .json/.yaml path (`base`, `method`, `metric`, `parameters`...)."""
        return SweepOut.model_validate(self._json("POST", "/v1/sweeps", json=load_spec(spec)))

    def sweeps(self, *, status: str | None = None, page_size: int = 50) -> Iterator[SweepOut]:
        return self._pages("/v1/sweeps", SweepOut, page_size, status=status)

    def sweep(self, sweep_id: str) -> SweepOut:
        return SweepOut.model_validate(self._json("GET", f"/v1/sweeps/{sweep_id}"))

    def cancel_sweep(self, sweep_id: str) -> SweepOut:
        return SweepOut.model_validate(self._json("POST", f"/v1/sweeps/{sweep_id}/cancel"))


def _listed(inputs: Sequence[Any]) -> list[Any]:
    """Inputs as JSON lists, whether given as lists or as a numpy array."""
    return (
        inputs.tolist()
        if isinstance(inputs, np.ndarray)
        else [x.tolist() if isinstance(x, np.ndarray) else x for x in inputs]
    )
