"""`AsyncClient`: `Client`'s methods for asyncio code (notebooks, services), on the same requests.

Each method is one line: the request comes from calls.py, as `Client`'s does, so the two cannot
disagree about paths, bodies or how answers are read; only the sending (and sleeping) is async.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
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
from deepfeat.client.retry import async_retrying
from deepfeat.client.shared import Pacer, base_url, download_target, finish_download, headers_for
from deepfeat.specs.datasets import DatasetOut
from deepfeat.specs.inference import PredictResponse, ScoreResponse
from deepfeat.specs.projects import ProjectOut
from deepfeat.specs.runs import EventOut, MetricOut, RunOut, ValidationReport
from deepfeat.specs.sweeps import SweepOut

T = TypeVar("T")


class AsyncClient:
    """`async with AsyncClient(url, key) as df: await df.embed("minilm-l6", ["hi"])`; see `Client`."""

    def __init__(
        self, url: str | None = None, key: str | None = None, *, timeout: float = 30.0, retries: int = 4
    ) -> None:
        self.url = base_url(url)
        self.key, headers = headers_for(self.url, key)
        self.retries = retries
        self._http = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.close()

    async def _once(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(call.method, call.path, **call.kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachable(self.url, reason(exc)) from None
        raise_for_error(response)
        return call.read(response.json() if response.content else None)

    async def _send(self, call: Call[T]) -> T:
        if not call.retry:
            return await self._once(call)
        async for attempt in async_retrying(self.retries + 1):
            with attempt:
                return await self._once(call)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _all(self, pages: Pages[Any]) -> AsyncIterator[Any]:
        after: str | None = None
        while True:
            items, after = await self._send(pages.page(after))
            for item in items:
                yield item
            if not after:
                return

    async def ready(self) -> dict[str, Any]:
        return await self._send(calls.ready())

    async def create_builtin(self, builtin: str, *, name: str | None = None) -> DatasetOut:
        return await self._send(calls.create_builtin(builtin, name))

    async def upload_dataset(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        format: str | None = None,
        target: str | None = None,
        **options: str | int | float | bool,
    ) -> DatasetOut:
        path = Path(path)
        form = calls.upload_form({"name": name, "format": format, "target": target, **options})
        try:
            content = path.read_bytes()  # httpx's async multipart takes bytes, not a sync file handle
        except OSError as exc:
            raise ClientError(f"cannot read {path}: {exc.strerror or exc}") from None
        files = {"file": (path.name, content, "application/octet-stream")}
        return await self._send(calls.upload_dataset(form, files))

    def datasets(self, *, page_size: int = 100) -> AsyncIterator[DatasetOut]:
        return self._all(calls.datasets(page_size))

    async def dataset(self, dataset_id: str) -> DatasetOut:
        return await self._send(calls.dataset(dataset_id))

    async def delete_dataset(self, dataset_id: str) -> None:
        await self._send(calls.delete_dataset(dataset_id))

    async def validate(self, spec: SpecLike) -> ValidationReport:
        return await self._send(calls.validate(spec))

    async def submit(self, spec: SpecLike, *, idempotency_key: str | None = None, **overrides: Any) -> RunOut:
        return await self._send(calls.submit(spec, idempotency_key, overrides))

    async def runs(
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
    ) -> AsyncIterator[RunOut]:
        i = 0
        search = calls.run_search(experiment, tags, filter, sort, order)
        async for run in self._all(calls.runs(status, page_size, search)):
            if limit is not None and i >= limit:
                return
            i += 1
            yield run

    async def update_run(self, run_id: str, **change: Any) -> RunOut:
        return await self._send(calls.update_run(run_id, change))

    async def run(self, run_id: str) -> RunOut:
        return await self._send(calls.run(run_id))

    async def wait(
        self,
        run_id: str,
        *,
        on_progress: Callable[[RunOut], None] | None = None,
        timeout: float | None = None,
        interval: float = 0.25,
        max_interval: float = 2.0,
    ) -> RunOut:
        pacer = Pacer(interval, max_interval, timeout)
        while True:
            run = await self.run(run_id)
            if pacer.changed(run) and on_progress is not None:
                on_progress(run)
            delay = pacer.next_delay(run)
            if delay is None:
                return run
            await asyncio.sleep(delay)

    async def cancel(self, run_id: str) -> RunOut:
        return await self._send(calls.cancel(run_id))

    async def metrics(self, run_id: str, *, key: str | None = None) -> list[MetricOut]:
        return await self._send(calls.metrics(run_id, key))

    async def events(self, run_id: str, *, after: int | None = None, page_size: int = 100) -> list[EventOut]:
        events: list[EventOut] = []
        while True:
            page = await self._send(calls.events(run_id, after, page_size))
            events += page
            if len(page) < page_size:
                return events
            after = page[-1].id

    async def artifacts(self, run_id: str) -> list[ArtifactOut]:
        return await self._send(calls.artifacts(run_id))

    async def download(self, run_id: str, name: str, dest: str | Path | None = None) -> Path:
        return await self._download(f"/v1/runs/{run_id}/artifacts/{name}", name, dest, f"run {run_id}")

    async def _download(self, path: str, name: str, dest: str | Path | None, owner: str) -> Path:
        target, partial = download_target(name, dest)
        digest = hashlib.sha256()
        try:
            # A presigned download redirects to the store (307); httpx drops our key on the way there.
            async with self._http.stream("GET", path, follow_redirects=True) as response:
                if response.is_error:
                    await response.aread()
                    raise_for_error(response)
                with partial.open("wb") as out:
                    async for chunk in response.aiter_bytes():
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

    async def predict(self, run_id: str, inputs: Sequence[Any]) -> PredictResponse:
        return await self._send(calls.predict(run_id, inputs))

    async def score(self, run_id: str, inputs: Sequence[Any], *, fpr: float | None = None) -> ScoreResponse:
        return await self._send(calls.score(run_id, inputs, fpr))

    async def samples(
        self, run_id: str, n: int = 16, *, seed: int | None = None, label: str | int | None = None
    ) -> np.ndarray[Any, Any]:
        return await self._send(calls.samples(run_id, n, seed, label))

    async def encoders(self, *, page_size: int = 200) -> list[EncoderOut]:
        return [e async for e in self._all(calls.encoders(page_size))]

    async def register_encoder(self, run_id: str, name: str, *, layer: str | None = None) -> EncoderOut:
        return await self._send(calls.register_encoder(run_id, name, layer))

    async def embed(
        self,
        encoder: str,
        inputs: Sequence[Any],
        *,
        layer: str | None = None,
        pool: str | None = None,
        normalize: bool | None = None,
    ) -> np.ndarray[Any, np.dtype[np.float32]]:
        return await self._send(calls.embed(encoder, inputs, layer, pool, normalize))

    async def extract(
        self,
        encoder: str,
        dataset: str,
        *,
        layer: str | None = None,
        pool: str | None = None,
        normalize: bool | None = None,
    ) -> ExtractionOut:
        return await self._send(calls.extract(encoder, dataset, layer, pool, normalize))

    async def extraction(self, extraction_id: str) -> ExtractionOut:
        return await self._send(calls.extraction(extraction_id))

    def extractions(self, *, status: str | None = None, page_size: int = 100) -> AsyncIterator[ExtractionOut]:
        return self._all(calls.extractions(status, page_size))

    async def cancel_extraction(self, extraction_id: str) -> ExtractionOut:
        return await self._send(calls.cancel_extraction(extraction_id))

    async def download_extraction(
        self, extraction_id: str, name: str = "embeddings.npy", dest: str | Path | None = None
    ) -> Path:
        path = f"/v1/extractions/{extraction_id}/artifacts/{name}"
        return await self._download(path, name, dest, f"extraction {extraction_id}")

    async def export_encoder(
        self, ref: str, *, format: str = "safetensors", dest: str | Path | None = None
    ) -> Path:
        name = f"{ref.replace('@', '-')}-{format}.zip"
        return await self._download(
            f"/v1/encoders/{ref}/export?format={format}", name, dest, f"encoder {ref}"
        )

    async def create_key(self, name: str, *, scope: str = "write") -> KeyOut:
        return await self._send(calls.create_key(name, scope))

    async def keys(self, *, page_size: int = 200) -> list[KeyOut]:
        return [k async for k in self._all(calls.keys(page_size))]

    async def revoke_key(self, key_id: str) -> KeyOut:
        return await self._send(calls.revoke_key(key_id))

    # -- sweeps ---------------------------------------------------------------------------------------
    async def create_sweep(self, spec: SpecLike) -> SweepOut:
        return await self._send(calls.create_sweep(spec))

    async def sweeps(self, *, status: str | None = None, page_size: int = 50) -> AsyncIterator[SweepOut]:
        async for sweep in self._all(calls.sweeps(status, page_size)):
            yield sweep

    async def sweep(self, sweep_id: str) -> SweepOut:
        return await self._send(calls.sweep(sweep_id))

    async def cancel_sweep(self, sweep_id: str) -> SweepOut:
        return await self._send(calls.cancel_sweep(sweep_id))

    # -- projects (an admin key of the `default` project) ----------------------------------------------
    async def create_project(self, name: str) -> ProjectOut:
        return await self._send(calls.create_project(name))

    async def projects(self, *, page_size: int = 100) -> AsyncIterator[ProjectOut]:
        async for project in self._all(calls.projects(page_size)):
            yield project

    async def project(self, ref: str) -> ProjectOut:
        return await self._send(calls.project(ref))

    async def create_project_key(self, ref: str, name: str = "", *, scope: str = "admin") -> KeyOut:
        return await self._send(calls.create_project_key(ref, name, scope))

    async def project_keys(self, ref: str) -> list[KeyOut]:
        return await self._send(calls.project_keys(ref))
