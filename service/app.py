"""`create_app`: the gateway. Refuses to start on an out-of-date schema rather than fail per request."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

import deepfeat
from deepfeat.config import Settings, get_settings
from deepfeat.db.migrate import ensure_up_to_date
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.encoders.runtime import EncoderRuntime
from deepfeat.services.auth import ensure_bootstrap_key
from deepfeat.services.serving import start_preload, threads_left_by_workers
from deepfeat.storage.backends import open_store
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
    projects,
    runs,
    schema,
    sweep_pages,
    sweeps,
    tei,
    webhooks,
    workers,
)
from service.routers.pages import install_dashboard
from service.routing import open_read_lane
from service.state import AppState
from workers.queue import Enqueuer

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, freeze_heap: bool = False) -> FastAPI:
    """The gateway. `freeze_heap`: the serving process's own (service/asgi.py) freezes what start-up
    made (deepfeat.services.serving.freeze_startup_heap). Not where a process makes many apps, such as
    a test run: the reference cycles of every earlier app would then never be collected."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.resolved_database_url, settings.db_pool_size)
        open_read_lane(settings.resolved_api_read_threads)
        ensure_up_to_date(engine)
        sessions = make_session_factory(engine)
        if settings.bootstrap_key is not None:
            with sessions() as session:
                try:
                    if not ensure_bootstrap_key(session, settings.bootstrap_key.get_secret_value()):
                        log.warning(
                            "the bootstrap key was revoked; `deepfeat admin-key --new` makes a new one"
                        )
                    session.commit()
                except IntegrityError:  # another API process (`--workers N`) stored it first
                    session.rollback()
        app.state.deepfeat = AppState(
            settings,
            engine,
            sessions,
            open_store(settings),
            Enqueuer(settings),
            KeyRateLimiter(settings),
        )
        # inference thread + batchers + engines (graphs cached in the store), torch threads set
        app.state.encoders = EncoderRuntime(
            settings, app.state.deepfeat.store, threads_left_by_workers(settings, sessions)
        )
        app.state.preload = start_preload(  # a daemon thread: /readyz answers 503 until it is done
            app.state.encoders, sessions, app.state.deepfeat.store, freeze_heap=freeze_heap
        )
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
    # Routes are tried in order, router by router (FastAPI matches every route of each router it
    # passes, twice for the one that holds the match): the busiest come first — the three embedding
    # faces, then a run's status — so the request made thousands of times a second does not first fail
    # to match the rest. Behind six routers, matching was a quarter of the native embed route's time on
    # the event loop (cProfile, 32 clients); first, a twentieth.
    for router in (
        embeddings.router,
        encoders.embed_router,
        tei.router,
        runs.router,
        inference.router,
        models.router,
        health.router,
        datasets.router,
        encoders.router,
        extractions.router,
        schema.router,
        keys.router,
        projects.router,
        workers.router,
        sweeps.router,
        webhooks.router,
    ):
        app.include_router(router, responses=ERROR_RESPONSES)
    document_errors(app)
    install_observability(app)
    app.include_router(sweep_pages.router)  # before the dashboard's catch-alls
    install_dashboard(app)
    install_docs(app)
    return app
