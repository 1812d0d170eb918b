"""`create_app`: the gateway. Refuses to start on an out-of-date schema rather than fail per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import deepfeat
from deepfeat.config import Settings, get_settings
from deepfeat.db.migrate import ensure_up_to_date
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.encoders.runtime import EncoderRuntime
from deepfeat.services.auth import ensure_bootstrap_key
from deepfeat.storage import ArtifactStore
from service.docs import install_docs
from service.errors import ERROR_RESPONSES, document_errors, install_error_handlers
from service.hygiene import install_hygiene
from service.observability import install_observability
from service.ratelimit import KeyRateLimiter
from service.routers import (
    datasets,
    embeddings,
    encoders,
    extractions,
    health,
    inference,
    keys,
    models,
    runs,
    schema,
    tei,
    workers,
)
from service.routers.pages import install_dashboard
from service.state import AppState
from workers.enqueue import Enqueuer


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.resolved_database_url)
        ensure_up_to_date(engine)
        sessions = make_session_factory(engine)
        if settings.bootstrap_key is not None:
            with sessions() as session:
                ensure_bootstrap_key(session, settings.bootstrap_key.get_secret_value())
                session.commit()
        app.state.deepfeat = AppState(
            settings,
            engine,
            sessions,
            ArtifactStore(settings.artifacts_dir),
            Enqueuer(settings),
            KeyRateLimiter(settings),
        )
        app.state.encoders = EncoderRuntime(settings)  # inference thread + batchers, torch threads set
        try:
            yield
        finally:
            app.state.encoders.close()
            engine.dispose()

    app = FastAPI(
        title="deepfeat",
        version=deepfeat.__version__,
        summary="Train networks from a spec over HTTP and serve what they learned as embeddings.",
        lifespan=lifespan,
        docs_url=None,  # served from local assets by install_docs (no CDN)
        redoc_url=None,
    )
    install_error_handlers(app)
    install_hygiene(app, settings)
    for router in (
        health.router,
        datasets.router,
        runs.router,
        inference.router,
        encoders.router,
        embeddings.router,
        models.router,
        tei.router,
        extractions.router,
        schema.router,
        keys.router,
        workers.router,
    ):
        app.include_router(router, responses=ERROR_RESPONSES)
    document_errors(app)
    install_observability(app)
    install_dashboard(app)
    install_docs(app)
    return app
