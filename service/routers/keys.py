"""/v1/keys: the project's API keys (admin scope)."""

from __future__ import annotations

from fastapi import APIRouter

from deepfeat.services import auth
from deepfeat.specs.keys import KeyCreate, KeyOut, KeyPage
from service.deps import Admin, DbSession, State
from service.routing import OneHopRoute

router = APIRouter(route_class=OneHopRoute, prefix="/v1/keys", tags=["keys"])


@router.post("", status_code=201, response_model=KeyOut)
def create_key(body: KeyCreate, who: Admin, session: DbSession) -> KeyOut:
    """A new key for this project. The answer holds its secret (`key`): it is never shown again."""
    key, raw = auth.issue_key(session, who.project_id, body.scope, body.name)
    return KeyOut.model_validate(key).model_copy(update={"key": raw})


@router.get("", response_model=KeyPage)
def list_keys(who: Admin, session: DbSession) -> KeyPage:
    return KeyPage(data=[KeyOut.model_validate(k) for k in auth.list_keys(session, who)])


@router.post("/{key_id}:revoke", response_model=KeyOut)
def revoke_key(key_id: str, who: Admin, session: DbSession, state: State) -> KeyOut:
    """Revoke a key; requests with it answer 401 from the next one on."""
    return KeyOut.model_validate(auth.revoke_key(session, who, key_id, state.settings))
