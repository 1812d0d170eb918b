"""Request dependencies. `db_session` is the one commit point of a request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from deepfeat.db.session import unit_of_work
from deepfeat.services.auth import Principal, authenticate
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
