"""Operations: Prometheus metrics at `GET /metrics` and one JSON access-log line per request.

Request latency is labelled by route template (`/v1/runs/{run_id}`), never by raw path, so the number of
series stays bounded. Run counts, queue depth and live workers are read from the database at scrape time
(the database is the record of truth; no counter in this process could know what the workers did).
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deepfeat import logs
from deepfeat.config import Settings
from deepfeat.db.repositories.dashboard import DashboardRepository
from deepfeat.encoders import metrics as embedding_metrics
from deepfeat.services.workers import count_online
from deepfeat.specs.runs import RunStatus
from service.deps import State

log = logging.getLogger("deepfeat.access")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_RUN_IN_PATH = re.compile(r"/runs/(run_[0-9a-f]{20})(?:/|$)")
STATUSES: tuple[str, ...] = RunStatus.__args__  # type: ignore[attr-defined]

# Process-wide instruments, registered into each app's registry (a test process builds many apps).
REQUEST_LATENCY = Histogram(
    "deepfeat_http_request_duration_seconds",
    "HTTP request latency by method, route template and status code (streams: until they end).",
    ["method", "route", "status"],
    registry=None,
)
EMBEDDING_BATCH_SIZE = embedding_metrics.BATCH_SIZE  # fed by the batcher (deepfeat/encoders/batcher.py)


def observe_embedding_batch(size: int) -> None:
    """Record one encoder forward pass of `size` inputs (for the embedding endpoints' batcher)."""
    EMBEDDING_BATCH_SIZE.observe(size)


class DatabaseCollector(Collector):
    """Runs by status, queue depth and live workers, read in one short session per scrape."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            repo = DashboardRepository(session)
            counts, depth = repo.status_counts(), repo.queue_depth()
            workers = count_online(session, self.settings)
        runs = GaugeMetricFamily("deepfeat_runs", "Runs by status, all projects.", labels=["status"])
        for status in STATUSES:
            runs.add_metric([status], counts.get(status, 0))
        yield runs
        queue = GaugeMetricFamily("deepfeat_queue_depth", "Queued runs per queue.", labels=["queue"])
        for name in sorted({"cpu", "gpu", *depth}):
            queue.add_metric([name], depth.get(name, 0))
        yield queue
        yield GaugeMetricFamily(
            "deepfeat_live_workers",
            "Workers heard from (heartbeat) within the last few heartbeats, idle or busy.",
            value=workers,
        )


def make_registry(sessions: sessionmaker[Session], settings: Settings) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(REQUEST_LATENCY)
    for instrument in embedding_metrics.ALL:  # batch size, tokens, queue depth, inference/tokenising time
        registry.register(instrument)
    registry.register(DatabaseCollector(sessions, settings))
    return registry


_PROCESS_TAG = secrets.token_hex(4)
_request_numbers = itertools.count(1)


def _next_request_id() -> str:
    """Unique across processes (a random tag per process) without a syscall per request: request ids
    tie log lines together, they are not secrets."""
    return f"{_PROCESS_TAG}{next(_request_numbers):08x}"


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if str(scope.get("path", "")).startswith("/static/"):
        return "/static"
    return "unmatched"  # a 404: never label by the raw path


class ObservabilityMiddleware:
    """Request id in and out (`X-Request-ID`), the latency histogram and a JSON access-log line.

    Plain ASGI rather than BaseHTTPMiddleware so that streaming responses (SSE) pass through untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else _next_request_id()
        rid_token = logs.request_id.set(request_id)
        found = _RUN_IN_PATH.search(scope["path"])
        run_token = logs.run_id.set(found.group(1) if found else None)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            REQUEST_LATENCY.labels(scope["method"], route, str(status)).observe(elapsed)
            log.info(
                "%s %s %d",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "request_id": request_id,
                    "run_id": logs.run_id.get(),
                },
            )
            logs.run_id.reset(run_token)
            logs.request_id.reset(rid_token)


def install_observability(app: FastAPI) -> None:
    """Add the middleware and `GET /metrics` (open like `/healthz`: aggregate numbers only, no ids)."""
    app.add_middleware(ObservabilityMiddleware)

    @app.get("/metrics", response_class=Response, tags=["operations"])
    def prometheus_metrics(state: State) -> Response:
        """Prometheus text format: request latency by route, runs by status, queue depth, workers."""
        registry: CollectorRegistry | None = getattr(app.state, "metrics_registry", None)
        if registry is None:
            registry = app.state.metrics_registry = make_registry(state.sessions, state.settings)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)
