"""Request dependencies. `db_session` is the one commit point of a request; the services a router uses
come from here too (`RunServiceDep`, …), built on the request's session and the key's project."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from deepfeat.db.session import commit, rollback
from deepfeat.services.auth import KeyCache, Principal, authenticate, hash_key
from deepfeat.services.datasets import DatasetService
from deepfeat.services.encoders import EncoderService
from deepfeat.services.extractions import ExtractionService
from deepfeat.services.projects import ProjectService
from deepfeat.services.runs import RunService
from deepfeat.services.signals import RevocationSignal
from deepfeat.services.sweeps import SweepService
from deepfeat.services.webhooks import WebhookService
from service.state import AppState

AUTH_TTL_S = 5.0
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer df_...`")


async def app_state(request: Request) -> AppState:
    # async: a plain attribute read; a sync dependency would cost a thread-pool hop on every request.
    state: AppState = request.app.state.deepfeat
    return state


State = Annotated[AppState, Depends(app_state)]


async def db_session(state: State) -> AsyncIterator[Session]:
    # async, and the end of the request's transaction is one thread-pool hop: a sync generator costs a
    # hop to open the session and another to close it. A Session connects only when first used, so
    # making one here blocks nothing.
    session = state.sessions()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_end, session, False)
        raise
    await run_in_threadpool(_end, session, True)


def _end(session: Session, succeeded: bool) -> None:
    """Commit (then run the after-commit work such as enqueueing) or roll back, and close."""
    try:
        if succeeded:
            commit(session)
        else:
            rollback(session)
    finally:
        session.close()


# scope="function": commit when the endpoint returns, before the response goes out. FastAPI's default
# ("request") runs it after sending, so a client could see 201 for a row not yet committed (or never).
DbSession = Annotated[Session, Depends(db_session, scope="function")]


async def principal(
    request: Request,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller's key. Lookups are cached for AUTH_TTL_S (a lookup per request capped a 2-core machine
    near 190 authenticated requests/s), and trusted only while the revocation stamp (a file's inode on
    one host, a Redis counter on many) is what it was when cached: a revoked key fails on its next
    request in every API process. A hit costs no database session and no thread-pool hop."""
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


async def run_service(session: DbSession, who: Reader, state: State) -> RunService:
    return RunService(session, who.project_id, state.settings, state.store)


async def dataset_service(session: DbSession, who: Reader, state: State) -> DatasetService:
    return DatasetService(session, who.project_id, state.store, state.settings)


async def encoder_service(session: DbSession, who: Reader, state: State) -> EncoderService:
    return EncoderService(session, who.project_id, state.settings, state.store)


async def extraction_service(session: DbSession, who: Reader, state: State) -> ExtractionService:
    return ExtractionService(session, who.project_id, state.settings, state.store)


async def sweep_service(session: DbSession, who: Reader, state: State) -> SweepService:
    return SweepService(session, who.project_id, state.settings, state.store)


async def webhook_service(session: DbSession, who: Reader) -> WebhookService:
    return WebhookService(session, who.project_id)


async def project_service(session: DbSession, who: Reader, state: State) -> ProjectService:
    return ProjectService(session, who, state.settings)


RunServiceDep = Annotated[RunService, Depends(run_service)]
DatasetServiceDep = Annotated[DatasetService, Depends(dataset_service)]
EncoderServiceDep = Annotated[EncoderService, Depends(encoder_service)]
ExtractionServiceDep = Annotated[ExtractionService, Depends(extraction_service)]
SweepServiceDep = Annotated[SweepService, Depends(sweep_service)]
WebhookServiceDep = Annotated[WebhookService, Depends(webhook_service)]
ProjectServiceDep = Annotated[ProjectService, Depends(project_service)]
