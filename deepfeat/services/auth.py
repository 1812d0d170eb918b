"""API keys: random 256-bit secrets, kept only as sha256 + a short prefix, compared by hash lookup."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.db.models import ApiKey, Project
from deepfeat.db.repositories.projects import ProjectRepository
from deepfeat.db.session import after_commit
from deepfeat.db.types import utcnow
from deepfeat.errors import Forbidden, NotFound, Unauthorized
from deepfeat.ids import new_id
from deepfeat.services.signals import announce_revocation, record_revocation

KEY_PREFIX = "df_"
SCOPES = ("read", "write", "admin")
DEFAULT_PROJECT = "default"


@dataclass(frozen=True)
class Principal:
    project_id: str
    key_id: str
    scope: str

    def require(self, scope: str) -> None:
        if SCOPES.index(self.scope) < SCOPES.index(scope):
            raise Forbidden(f"this key has scope {self.scope!r}; the request needs {scope!r}")


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def authenticate(session: Session, raw: str | None) -> Principal:
    if not raw:
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    digest = hash_key(raw)
    key = ProjectRepository(session).key_by_hash(digest)
    # The lookup is by hash, so timing says nothing about the key; compare again in constant time anyway.
    if key is None or not hmac.compare_digest(key.key_hash, digest) or key.revoked_at is not None:
        raise Unauthorized("invalid or revoked API key")
    return Principal(project_id=key.project_id, key_id=key.id, scope=key.scope)


def ensure_project(session: Session, name: str = DEFAULT_PROJECT) -> Project:
    repo = ProjectRepository(session)
    return repo.get_by_name(name) or repo.add(Project(id=new_id("prj"), name=name))


def create_key(session: Session, project: Project, scope: str, name: str = "", raw: str | None = None) -> str:
    """Store a key for `project` and return the raw secret (the only time it is seen)."""
    return issue_key(session, project.id, scope, name, raw)[1]


def issue_key(
    session: Session, project_id: str, scope: str, name: str = "", raw: str | None = None
) -> tuple[ApiKey, str]:
    """A new key row and its raw secret."""
    raw = raw or generate_key()
    key = ApiKey(
        id=new_id("key"),
        project_id=project_id,
        name=name,
        prefix=raw[:10],
        key_hash=hash_key(raw),
        scope=scope,
    )
    return ProjectRepository(session).add_key(key), raw


def list_keys(session: Session, who: Principal) -> Sequence[ApiKey]:
    return ProjectRepository(session).keys(who.project_id)


def revoke_key(session: Session, who: Principal, key_id: str, settings: Settings) -> ApiKey:
    """Revoke a key of the caller's project; effective from the next request, in every process that
    caches key lookups (they compare `signals.RevocationSignal.stamp` before trusting a cached key)."""
    key = ProjectRepository(session).key(who.project_id, key_id)
    if key is None:
        raise NotFound(f"key {key_id!r} not found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        record_revocation(session)
        after_commit(session, lambda: announce_revocation(settings))
    return key


def ensure_bootstrap_key(session: Session, raw: str) -> None:
    """Make `raw` an admin key of the default project, once."""
    if ProjectRepository(session).key_by_hash(hash_key(raw)) is None:
        create_key(session, ensure_project(session), "admin", name="bootstrap", raw=raw)
