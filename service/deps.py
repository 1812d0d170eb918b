"""Request dependencies. `db_session` is the one commit point of a request; the services a router uses
come from here too (`RunServiceDep`, …), built on the request's session and the key's project."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from deepfeat.db.session import unit_of_work
from deepfeat.services.auth import Principal, authenticate
from deepfeat.services.datasets import DatasetService
from deepfeat.services.encoders import EncoderService
from deepfeat.services.extractions import ExtractionService
from deepfeat.services.projects import ProjectService
from deepfeat.services.runs import RunService
from deepfeat.services.sweeps import SweepService
from deepfeat.services.webhooks import WebhookService
from service.state import AppState

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer df_...`")


async def app_state(request: Request) -> AppState:
    # async: a plain attribute read; a sync dependency would cost a thread-pool hop on every request.
    state: AppState = request.app.state.deepfeat
    return state


State = Annotated[AppState, Depends(app_state)]


def db_session(state: State) -> Iterator[Session]:
    with unit_of_work(state.sessions) as session:  # commits, then runs after-commit work (enqueueing)
        yield session


# scope="function": commit when the endpoint returns, before the response goes out. FastAPI's default
# ("request") runs it after sending, so a client could see 201 for a row not yet committed (or never).
DbSession = Annotated[Session, Depends(db_session, scope="function")]


def principal(
    session: DbSession,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    who = authenticate(session, credentials.credentials if credentials else None)
    state.limiter.check(who.key_id)
    return who


def writer(who: Annotated[Principal, Depends(principal)]) -> Principal:
    who.require("write")
    return who


def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
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
