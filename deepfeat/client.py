"""The Python client: every deepfeat route as a method, answers typed with the server's own models.

    from deepfeat.client import Client
    with Client("http://127.0.0.1:8000", key="df_...") as df:
        dataset = df.create_builtin("digits")
        run = df.submit("examples/digits-mlp.yaml")
        run = df.wait(run.id, on_progress=lambda r: print(r.progress))

Failures raise `DeepfeatAPIError` (the server's `{error, detail, loc}`) or `ServerUnreachable`; both
derive from `ClientError`, so a notebook or the CLI can catch one type.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict

from deepfeat.specs.datasets import DatasetOut
from deepfeat.specs.runs import (
    TERMINAL_STATUSES,
    EventOut,
    MetricOut,
    RunOut,
    RunSpec,
    ValidationReport,
)

DEFAULT_URL = "http://127.0.0.1:8000"
SpecLike = Mapping[str, Any] | RunSpec | str | Path
M = TypeVar("M", bound=BaseModel)


class ClientError(Exception):
    """Anything the client could not do; the message is one line meant for a person."""


class ServerUnreachable(ClientError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}")
        self.url, self.reason = url, reason


class DeepfeatAPIError(ClientError):
    """The server answered with an error: its HTTP status and the `{error, detail, loc}` body."""

    def __init__(
        self, status: int, error: str, detail: str, loc: str | None = None, body: Any = None
    ) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status, self.error, self.detail, self.loc, self.body = status, error, detail, loc, body


class SpecFileError(ClientError):
    """A spec file that cannot be read or parsed (before anything reaches the server)."""


class WaitTimeout(ClientError, TimeoutError):
    def __init__(self, run: RunOut, timeout: float) -> None:
        super().__init__(f"run {run.id} is still {run.status} after {timeout:g}s")
        self.run = run


# Answers of routes that have no model in deepfeat.specs yet (artifacts) or that other issues are
# building (encoders, extractions, keys). Unknown fields are kept, so a richer server does not break us.
class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ArtifactOut(_Open):
    name: str
    media_type: str
    sha256: str
    size_bytes: int


class EncoderOut(_Open):
    name: str
    version: str | None = None
    modality: str | None = None
    dim: int | None = None
    source: str | None = None


class ExtractionOut(_Open):
    id: str
    status: str
    progress: dict[str, Any] = {}
    error: str | None = None


class KeyOut(_Open):
    id: str
    name: str = ""
    scope: str
    prefix: str | None = None
    key: str | None = None  # the secret: only in the answer to create, never again
    revoked_at: str | None = None


class Embeddings(_Open):
    embeddings: list[list[float]]
    dim: int
    model: str | None = None
    version: str | None = None


def load_spec(source: SpecLike) -> dict[str, Any]:
    """A run spec as the JSON document to send: from a dict, a RunSpec, or a .json/.yaml file."""
    if isinstance(source, RunSpec):
        return source.model_dump(mode="json", by_alias=True)
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise SpecFileError(f"cannot read spec {path}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        where = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecFileError(
            f"spec {path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {where}"
        ) from None
    if not isinstance(doc, dict):
        raise SpecFileError(f"spec {path} must hold one object (a mapping), not {type(doc).__name__}")
    return doc


def default_key(url: str = DEFAULT_URL) -> str | None:
    """DEEPFEAT_API_KEY, else (for a local server) the admin key `deepfeat up` wrote in the data dir."""
    if key := os.environ.get("DEEPFEAT_API_KEY"):
        return key
    if httpx.URL(url).host not in ("127.0.0.1", "localhost", "::1"):
        return None
    data_dir = Path(os.environ.get("DEEPFEAT_DATA_DIR", "./var")).expanduser()
    try:
        return (data_dir / "admin.key").read_text().strip() or None
    except OSError:
        return None


class Client:
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
            raise ServerUnreachable(self.url, _reason(exc)) from None
        _raise_for_error(response)
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
        self, *, status: str | None = None, limit: int | None = None, page_size: int = 50
    ) -> Iterator[RunOut]:
        """Runs, newest first, across pages; at most `limit` of them when given."""
        for i, run in enumerate(self._pages("/v1/runs", RunOut, page_size, status=status)):
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
        target = Path(dest) if dest is not None else Path(name)
        if target.is_dir():
            target = target / name
        partial = target.with_name(target.name + ".part")
        digest = hashlib.sha256()
        try:
            with self._http.stream("GET", f"/v1/runs/{run_id}/artifacts/{name}") as response:
                if response.is_error:
                    response.read()
                    _raise_for_error(response)
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        digest.update(chunk)
                        out.write(chunk)
                expected = response.headers.get("X-Content-SHA256")
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise ServerUnreachable(self.url, _reason(exc)) from None
        if expected and expected != digest.hexdigest():
            partial.unlink(missing_ok=True)
            raise ClientError(f"artifact {name} of run {run_id} arrived corrupted (sha256 mismatch)")
        partial.replace(target)
        return target

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

    def extract(self, encoder: str, dataset: str, *, layer: str | None = None) -> ExtractionOut:
        """Start a batch job that embeds a whole dataset into an `embeddings.npy` artifact."""
        body = {"encoder": encoder, "dataset": dataset, **({"layer": layer} if layer else {})}
        return ExtractionOut.model_validate(self._json("POST", "/v1/extractions", json=body))

    def extraction(self, extraction_id: str) -> ExtractionOut:
        return ExtractionOut.model_validate(self._json("GET", f"/v1/extractions/{extraction_id}"))

    # -- keys (admin; need the access feature on the server) ------------------------------------------
    def create_key(self, name: str, *, scope: str = "write") -> KeyOut:
        """A new key of this project; its secret is in `.key` of the answer and shown only once."""
        return KeyOut.model_validate(self._json("POST", "/v1/keys", json={"name": name, "scope": scope}))

    def keys(self) -> list[KeyOut]:
        body = self._json("GET", "/v1/keys")
        return [KeyOut.model_validate(k) for k in (body["data"] if isinstance(body, dict) else body)]

    def revoke_key(self, key_id: str) -> KeyOut:
        return KeyOut.model_validate(self._json("POST", f"/v1/keys/{key_id}:revoke"))


def _raise_for_error(response: httpx.Response) -> None:
    if not response.is_error:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        if not isinstance(detail, str):  # a plain FastAPI/Starlette answer, not ours
            detail = json.dumps(detail)
        loc = body.get("loc")
        raise DeepfeatAPIError(response.status_code, str(body.get("error", "error")), detail, loc, body)
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
    raise DeepfeatAPIError(response.status_code, "http_error", text, None, body)


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError) and "refused" in str(exc).lower():
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return str(exc) or type(exc).__name__
