"""Signals every process must see, across hosts that share no disk.

The database is the record (the `keys_revoked` counter, bumped in the revoking transaction; a run's
`cancel_requested`). Hot paths read something cheaper when one exists: on one machine (SQLite; the
embedded default) a file stamp in the data dir, as before; where the broker is Redis, a counter in Redis
every host reaches; otherwise the database row itself.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import redis
from sqlalchemy.orm import Session, sessionmaker

from deepfeat.config import Settings
from deepfeat.db.repositories.state import StateRepository
from deepfeat.db.types import utcnow

log = logging.getLogger(__name__)
KEYS_REVOKED = "keys_revoked"
REDIS_KEY = "deepfeat:keys-revoked"
DASHBOARD_SIGNER = "dashboard_signer"  # the row holding the cookie-signing secret


def single_host(settings: Settings) -> bool:
    """SQLite means one machine: its data dir is every process's, so files there are shared signals."""
    return settings.resolved_database_url.startswith("sqlite")


def _redis_url(settings: Settings) -> str | None:
    broker = settings.resolved_broker_url
    return broker if broker.startswith(("redis://", "rediss://")) else None


class RevocationSignal:
    """A value that changes whenever any key is revoked; a cached key is trusted only while it holds."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings, self.sessions = settings, sessions
        self.file = settings.signals_dir / "keys-revoked"
        self.single_host = single_host(settings)  # read on every request: worked out once
        url = None if self.single_host else _redis_url(settings)
        self.redis = redis.Redis.from_url(url, socket_timeout=1) if url else None

    def stamp(self) -> str | None:
        """The current value; None when it cannot be read (then nothing cached is trusted)."""
        if self.single_host:
            try:
                found = self.file.stat()
            except FileNotFoundError:
                return "0"
            return f"{found.st_ino}:{found.st_mtime_ns}"
        if self.redis is not None:
            try:
                value = self.redis.get(REDIS_KEY)
            except redis.RedisError:
                return None
            return value.decode() if isinstance(value, bytes) else "0"
        with self.sessions() as session:
            return str(StateRepository(session).version(KEYS_REVOKED))


def record_revocation(session: Session) -> None:
    """In the revoking transaction: the database's counter, which every host can read."""
    StateRepository(session).bump(KEYS_REVOKED)


def announce_revocation(settings: Settings) -> None:
    """After the commit: move the cheap stamp the hot path reads (file on one host, Redis on many)."""
    if single_host(settings):
        _replace_file(settings.signals_dir / "keys-revoked")
        return
    url = _redis_url(settings)
    if url:
        try:
            redis.Redis.from_url(url, socket_timeout=1).incr(REDIS_KEY)
        except redis.RedisError:  # committed already; cached lookups then expire within their TTL
            log.warning("could not announce a key revocation through Redis", exc_info=True)


def _replace_file(path: Path) -> None:
    # A new file renamed over the old: a new inode each time, so even a coarse mtime cannot hide it.
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fresh.write_text(utcnow().isoformat())
    os.replace(fresh, path)


def dashboard_secret(session: Session) -> bytes:
    """The dashboard's cookie-signing secret: made by the first API process, read by every other."""
    return StateRepository(session).value(DASHBOARD_SIGNER, secrets.token_urlsafe(48)).encode()
