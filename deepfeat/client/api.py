"""`Client`: every deepfeat route as a method, answers typed with the server's own pydantic models.

The requests are built in calls.py and shared with `AsyncClient` (aio.py); this file only sends them,
retrying 429/503 as `Retry-After` says (retry.py) and reading every page where a method promises all.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import numpy as np

from deepfeat.client import calls
from deepfeat.client.calls import Call, Pages
from deepfeat.client.errors import ClientError, ServerUnreachable, raise_for_error, reason
from deepfeat.client.local import SpecLike
from deepfeat.client.models import ArtifactOut, EncoderOut, ExtractionOut, KeyOut
from deepfeat.client.retry import retrying
from deepfeat.client.shared import Pacer, base_url, download_target, finish_download, headers_for
from deepfeat.specs.datasets import DatasetOut
from deepfeat.specs.inference import PredictResponse, ScoreResponse
from deepfeat.specs.projects import ProjectOut
from deepfeat.specs.runs import EventOut, MetricOut, RunOut, ValidationReport
from deepfeat.specs.sweeps import SweepOut

T = TypeVar("T")


class Client:
    """A deepfeat server at `url` (default DEEPFEAT_URL, then http://127.0.0.1:8000) used with `key`.

    429 and 503 answers are retried up to `retries` times, waiting what `Retry-After` says.
    """

    def __init__(
        self, url: str | None = None, key: str | None = None, *, timeout: float = 30.0, retries: int = 4
    ) -> None:
        self.url = base_url(url)
        self.key, headers = headers_for(self.url, key)
        self.retries = retries
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------------------
    def _once(self, call: Call[T]) -> T:
        try:
            response = self._http.request(call.method, call.path, **call.kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachable(self.url, reason(exc)) from None
        raise_for_error(response)
        return call.read(response.json() if response.content else None)

    def _send(self, call: Call[T]) -> T:
        if not call.retry:
            return self._once(call)
        for attempt in retrying(self.retries + 1):
            with attempt:
                return self._once(call)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _all(self, pages: Pages[Any]) -> Iterator[Any]:
        after: str | None = None
        while True:
            items, after = self._send(pages.page(after))
            yield from items
            if not after:
                return

    # -- health ---------------------------------------------------------------------------------------
    def ready(self) -> dict[str, Any]:
        """`/readyz`: raises DeepfeatAPIError(503) naming the dependency that is down."""
        return self._send(calls.ready())

    # -- datasets -------------------------------------------------------------------------------------
    def create_builtin(self, builtin: str, *, name: str | None = None) -> DatasetOut:
        return self._send(calls.create_builtin(builtin, name))

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
        form = calls.upload_form({"name": name, "format": format, "target": target, **options})
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ClientError(f"cannot read {path}: {exc.strerror or exc}") from None
        with handle:
            files = {"file": (path.name, handle, "application/octet-stream")}
            return self._send(calls.upload_dataset(form, files))

    def datasets(self, *, page_size: int = 100) -> Iterator[DatasetOut]:
        """Every dataset of the key's project, following the pages."""
        return self._all(calls.datasets(page_size))

    def dataset(self, dataset_id: str) -> DatasetOut:
        return self._send(calls.dataset(dataset_id))

    def delete_dataset(self, dataset_id: str) -> None:
        """Delete a dataset; DeepfeatAPIError(409) while a queued or running run uses it."""
        self._send(calls.delete_dataset(dataset_id))

    # -- runs -----------------------------------------------------------------------------------------
    def validate(self, spec: SpecLike) -> ValidationReport:
        """Dry-run a spec: parameters, FLOPs, shapes and memory, or DeepfeatAPIError(422) with `loc`."""
        return self._send(calls.validate(spec))

    def submit(self, spec: SpecLike, *, idempotency_key: str | None = None, **overrides: Any) -> RunOut:
        """Queue a run from a dict, a RunSpec or a .json/.yaml path; `overrides` replace top-level fields."""
        return self._send(calls.submit(spec, idempotency_key, overrides))

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
        search = calls.run_search(experiment, tags, filter, sort, order)
        for i, run in enumerate(self._all(calls.runs(status, page_size, search))):
            if limit is not None and i >= limit:
                return
            yield run

    def update_run(self, run_id: str, **change: Any) -> RunOut:
        """PATCH a run's `name`, `experiment`, `tags`, `metadata`, `add_tags` or `remove_tags`."""
        return self._send(calls.update_run(run_id, change))

    def run(self, run_id: str) -> RunOut:
        return self._send(calls.run(run_id))

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
        Raises WaitTimeout after `timeout`."""
        pacer = Pacer(interval, max_interval, timeout)
        while True:
            run = self.run(run_id)
            if pacer.changed(run) and on_progress is not None:
                on_progress(run)
            delay = pacer.next_delay(run)
            if delay is None:
                return run
            time.sleep(delay)

    def cancel(self, run_id: str) -> RunOut:
        """Ask a run to stop; DeepfeatAPIError(409) when it has already ended."""
        return self._send(calls.cancel(run_id))

    def metrics(self, run_id: str, *, key: str | None = None) -> list[MetricOut]:
        return self._send(calls.metrics(run_id, key))

    def events(self, run_id: str, *, after: int | None = None, page_size: int = 100) -> list[EventOut]:
        """The run's whole event log from `after` on (every page)."""
        events: list[EventOut] = []
        while True:
            page = self._send(calls.events(run_id, after, page_size))
            events += page
            if len(page) < page_size:
                return events
            after = page[-1].id

    def artifacts(self, run_id: str) -> list[ArtifactOut]:
        return self._send(calls.artifacts(run_id))

    def download(self, run_id: str, name: str, dest: str | Path | None = None) -> Path:
        """Stream an artifact to `dest` (a file, or a folder to put `name` in; default: here).

        The bytes are checked against the sha256 the server sends; a mismatch leaves no file.
        """
        return self._download(f"/v1/runs/{run_id}/artifacts/{name}", name, dest, f"run {run_id}")

    def _download(self, path: str, name: str, dest: str | Path | None, owner: str) -> Path:
        target, partial = download_target(name, dest)
        digest = hashlib.sha256()
        try:
            # A presigned download redirects to the store (307); httpx drops our key on the way there.
            with self._http.stream("GET", path, follow_redirects=True) as response:
                if response.is_error:
                    response.read()
                    raise_for_error(response)
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        digest.update(chunk)
                        out.write(chunk)
                expected = next(
                    (
                        r.headers["X-Content-SHA256"]
                        for r in (response, *response.history)
                        if "X-Content-SHA256" in r.headers
                    ),
                    None,
                )
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise ServerUnreachable(self.url, reason(exc)) from None
        return finish_download(partial, target, expected, digest.hexdigest(), f"artifact {name} of {owner}")

    # -- trained runs at work -------------------------------------------------------------------------
    def predict(self, run_id: str, inputs: Sequence[Any]) -> PredictResponse:
        """Classes (with probabilities) or values for inputs shaped like the run's dataset (or flat)."""
        return self._send(calls.predict(run_id, inputs))

    def score(self, run_id: str, inputs: Sequence[Any], *, fpr: float | None = None) -> ScoreResponse:
        """Autoencoder anomaly scores, the threshold at `fpr`, and which inputs are anomalies."""
        return self._send(calls.score(run_id, inputs, fpr))

    def samples(
        self, run_id: str, n: int = 16, *, seed: int | None = None, label: str | int | None = None
    ) -> np.ndarray[Any, Any]:
        """`n` samples from a GAN run's generator: an (n, *shape) array, `shape` being one sample's;
        `label`: the class a conditional GAN's samples are of."""
        return self._send(calls.samples(run_id, n, seed, label))

    # -- encoders and embeddings ----------------------------------------------------------------------
    def encoders(self, *, page_size: int = 200) -> list[EncoderOut]:
        """Every encoder: the catalogue and all the project's registered ones (every page)."""
        return list(self._all(calls.encoders(page_size)))

    def register_encoder(self, run_id: str, name: str, *, layer: str | None = None) -> EncoderOut:
        return self._send(calls.register_encoder(run_id, name, layer))

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
        return self._send(calls.embed(encoder, inputs, layer, pool, normalize))

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
        return self._send(calls.extract(encoder, dataset, layer, pool, normalize))

    def extraction(self, extraction_id: str) -> ExtractionOut:
        return self._send(calls.extraction(extraction_id))

    def extractions(self, *, status: str | None = None, page_size: int = 100) -> Iterator[ExtractionOut]:
        """Every extraction job of the project, newest first (pages fetched as you iterate)."""
        return self._all(calls.extractions(status, page_size))

    def cancel_extraction(self, extraction_id: str) -> ExtractionOut:
        return self._send(calls.cancel_extraction(extraction_id))

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

    # -- keys (admin) ---------------------------------------------------------------------------------
    def create_key(self, name: str, *, scope: str = "write") -> KeyOut:
        """A new key of this project; its secret is in `.key` of the answer and shown only once."""
        return self._send(calls.create_key(name, scope))

    def keys(self, *, page_size: int = 200) -> list[KeyOut]:
        """Every key of the project (every page)."""
        return list(self._all(calls.keys(page_size)))

    def revoke_key(self, key_id: str) -> KeyOut:
        return self._send(calls.revoke_key(key_id))

    # -- sweeps ---------------------------------------------------------------------------------------
    def create_sweep(self, spec: SpecLike) -> SweepOut:
        """Start a sweep from a dict or a .json/.yaml path (`base`, `method`, `metric`, `parameters`...)."""
        return self._send(calls.create_sweep(spec))

    def sweeps(self, *, status: str | None = None, page_size: int = 50) -> Iterator[SweepOut]:
        return self._all(calls.sweeps(status, page_size))

    def sweep(self, sweep_id: str) -> SweepOut:
        return self._send(calls.sweep(sweep_id))

    def cancel_sweep(self, sweep_id: str) -> SweepOut:
        return self._send(calls.cancel_sweep(sweep_id))

    # -- projects (an admin key of the `default` project) ----------------------------------------------
    def create_project(self, name: str) -> ProjectOut:
        return self._send(calls.create_project(name))

    def projects(self, *, page_size: int = 100) -> Iterator[ProjectOut]:
        return self._all(calls.projects(page_size))

    def project(self, ref: str) -> ProjectOut:
        """A project by id or name, with its storage use."""
        return self._send(calls.project(ref))

    def create_project_key(self, ref: str, name: str = "", *, scope: str = "admin") -> KeyOut:
        """A key of another project; its secret is in `.key` and shown only once."""
        return self._send(calls.create_project_key(ref, name, scope))

    def project_keys(self, ref: str) -> list[KeyOut]:
        return self._send(calls.project_keys(ref))
