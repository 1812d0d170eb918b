"""API keys: random 256-bit secrets, kept only as sha256 + a short prefix, compared by hash lookup."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.db.models import ApiKey, Project
from deepfeat.db.repositories.projects import ProjectRepository
from deepfeat.db.session import after_commit
from deepfeat.db.types import utcnow
from deepfeat.errors import Conflict, Forbidden, NotFound, Unauthorized
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
    repo = ProjectRepository(session)
    key = repo.key(who.project_id, key_id)
    if key is None:
        raise NotFound(f"key {key_id!r} not found")
    if key.revoked_at is None:
        if key.scope == "admin":
            repo.lock(who.project_id)  # two concurrent revokes must not both see "one more left"
            if repo.live_admin_keys(who.project_id) <= 1:
                raise Conflict(
                    f"key {key_id} is the last live admin key of this project: revoking it would lock "
                    "the project out of its keys; create another admin key first "
                    "(the server's operator can always run `deepfeat admin-key --new`)"
                )
        key.revoked_at = utcnow()
        record_revocation(session)
        after_commit(session, lambda: announce_revocation(settings))
    return key


def ensure_bootstrap_key(session: Session, raw: str) -> bool:
    """Make `raw` an admin key of the default project, once. False when it was revoked since: it stays
    revoked (a restart must not undo a revocation); `deepfeat admin-key --new` makes a fresh one."""
    key = ProjectRepository(session).key_by_hash(hash_key(raw))
    if key is None:
        create_key(session, ensure_project(session), "admin", name="bootstrap", raw=raw)
        return True
    return key.revoked_at is None


def is_revoked(session: Session, raw: str) -> bool:
    """Whether `raw` is a key that was revoked (False for a live or an unknown one)."""
    key = ProjectRepository(session).key_by_hash(hash_key(raw))
    return key is not None and key.revoked_at is not None


def is_deployment_admin(session: Session, who: Principal) -> bool:
    """An admin key of the `default` project (the one the bootstrap key belongs to) runs the deployment:
    it creates projects and issues their keys. Every other key is confined to its own project."""
    if who.scope != "admin":
        return False
    project = ProjectRepository(session).get(who.project_id)
    return project is not None and project.name == DEFAULT_PROJECT


def require_deployment_admin(session: Session, who: Principal) -> None:
    if not is_deployment_admin(session, who):
        raise Forbidden("managing projects needs an admin key of the deployment's `default` project")


def recovery_key(session: Session) -> str:
    """A new admin key of the default project, for the operator on the host (no API key needed)."""
    return create_key(session, ensure_project(session), "admin", name="recovery")


class KeyCache:
    """Key lookups remembered for `ttl_s`, for the embedding routes (a lookup per request capped a 2-core
    machine near 190 authenticated requests/s before any model ran). An entry is trusted only while the
    revocation stamp it was stored with is the current one, so a revoked key fails on its next request
    in every API process; `None` as the stamp (no signal could be read) trusts nothing."""

    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._entries: dict[str, tuple[Principal, float, str | None]] = {}

    def get(self, digest: str, stamp: str | None) -> Principal | None:
        hit = self._entries.get(digest)
        if hit is None or stamp is None or hit[1] <= time.monotonic() or hit[2] != stamp:
            return None
        return hit[0]

    def put(self, digest: str, who: Principal, stamp: str | None) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[digest] = (who, time.monotonic() + self.ttl_s, stamp)
