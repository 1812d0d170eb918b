"""Request dependencies. `db_session` is the one commit point of a request; the services a router uses
come from here too (`RunServiceDep`, …), built on the request's session and the key's project."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from deepfeat.services.auth import KeyCache, Principal, authenticate, hash_key
from deepfeat.services.datasets import DatasetService
from deepfeat.services.encoders import EncoderService
from deepfeat.services.extractions import ExtractionService
from deepfeat.services.projects import ProjectService
from deepfeat.services.runs import RunService
from deepfeat.services.signals import RevocationSignal
from deepfeat.services.sweeps import SweepService
from deepfeat.services.webhooks import WebhookService
from service.routing import end_transaction, ended, request_session
from service.state import AppState

AUTH_TTL_S = 5.0
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer df_...`")


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.deepfeat
    return state


async def app_state(request: Request) -> AppState:
    # async: a plain attribute read; a sync dependency would cost a thread-pool hop on every request.
    return state_of(request)


State = Annotated[AppState, Depends(app_state)]


# The dependencies below take `Request` rather than `State`: each dependency FastAPI solves costs a
# few tens of µs on every request, and these are on every request.


async def db_session(request: Request) -> AsyncIterator[Session]:
    # async: a Session connects only when first used, so making one here blocks nothing. A sync
    # endpoint ends the transaction in its own thread-pool hop (`service.routing.OneHopRoute`); for an
    # async one the end is one hop here.
    session = state_of(request).sessions()
    request_session.set(session)
    try:
        yield session
    except BaseException:
        if not ended(session):
            await run_in_threadpool(end_transaction, session, False)
        raise
    if not ended(session):
        await run_in_threadpool(end_transaction, session, True)


# scope="function": commit when the endpoint returns, before the response goes out. FastAPI's default
# ("request") runs it after sending, so a client could see 201 for a row not yet committed (or never).
DbSession = Annotated[Session, Depends(db_session, scope="function")]


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller's key. Lookups are cached for AUTH_TTL_S (a lookup per request capped a 2-core machine
    near 190 authenticated requests/s), and trusted only while the revocation stamp (a file's inode on
    one host, a Redis counter on many) is what it was when cached: a revoked key fails on its next
    request in every API process. A hit costs no database session and no thread-pool hop."""
    state = state_of(request)
    raw = credentials.credentials if credentials else None
    digest = hash_key(raw) if raw else ""
    # Per app, not per module: another app in the same process may have another database.
    cache: KeyCache | None = getattr(request.app.state, "key_cache", None)
    if cache is None:
        cache = request.app.state.key_cache = KeyCache(AUTH_TTL_S)
    signal: RevocationSignal | None = getattr(request.app.state, "revocation", None)
    if signal is None:
        signal = request.app.state.revocation = RevocationSignal(state.settings, state.sessions)
    stamp = signal.stamp()  # read before the lookup: a revoke after it shows next time
    who = cache.get(digest, stamp)
    if who is None:

        def lookup() -> Principal:
            with state.sessions() as session:
                return authenticate(session, raw)

        who = await run_in_threadpool(lookup)
        cache.put(digest, who, stamp)
    state.limiter.check(who.key_id)
    return who


async def writer(who: Annotated[Principal, Depends(principal)]) -> Principal:
    who.require("write")
    return who


async def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    who.require("admin")
    return who


Reader = Annotated[Principal, Depends(principal)]
Writer = Annotated[Principal, Depends(writer)]
Admin = Annotated[Principal, Depends(admin)]


# Services of the key's project on the request's session. `async` though they are built from sync
# dependencies: building one is pure (no I/O), and a sync dependency would cost a thread-pool hop each.
# They authenticate through `Reader` (cached per request): a route that needs more names `Writer` or
# `Admin` beside them.


async def run_service(request: Request, session: DbSession, who: Reader) -> RunService:
    state = state_of(request)
    return RunService(session, who.project_id, state.settings, state.store)


async def dataset_service(request: Request, session: DbSession, who: Reader) -> DatasetService:
    state = state_of(request)
    return DatasetService(session, who.project_id, state.store, state.settings)


async def encoder_service(request: Request, session: DbSession, who: Reader) -> EncoderService:
    state = state_of(request)
    return EncoderService(session, who.project_id, state.settings, state.store)


async def extraction_service(request: Request, session: DbSession, who: Reader) -> ExtractionService:
    state = state_of(request)
    return ExtractionService(session, who.project_id, state.settings, state.store)


async def sweep_service(request: Request, session: DbSession, who: Reader) -> SweepService:
    state = state_of(request)
    return SweepService(session, who.project_id, state.settings, state.store)


async def webhook_service(session: DbSession, who: Reader) -> WebhookService:
    return WebhookService(session, who.project_id)


async def project_service(request: Request, session: DbSession, who: Reader) -> ProjectService:
    state = state_of(request)
    return ProjectService(session, who, state.settings)


RunServiceDep = Annotated[RunService, Depends(run_service)]
DatasetServiceDep = Annotated[DatasetService, Depends(dataset_service)]
EncoderServiceDep = Annotated[EncoderService, Depends(encoder_service)]
ExtractionServiceDep = Annotated[ExtractionService, Depends(extraction_service)]
SweepServiceDep = Annotated[SweepService, Depends(sweep_service)]
WebhookServiceDep = Annotated[WebhookService, Depends(webhook_service)]
ProjectServiceDep = Annotated[ProjectService, Depends(project_service)]
