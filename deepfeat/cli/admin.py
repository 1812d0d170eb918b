"""The admin key of the host's deployment, kept in `admin.key`: `deepfeat admin-key` and `up` use these.

An API key cannot be trusted to exist: keys get revoked. Whoever can open the server's database (and
write its data dir) is the operator, so the way back in needs exactly that and no API key.
"""

from __future__ import annotations

import os
import secrets

from rich.console import Console

from deepfeat.config import Settings
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.processes import admin_key
from deepfeat.services import auth

err = Console(stderr=True)


def issue_recovery_key(settings: Settings) -> str:
    """A new admin key of the default project, committed and written to `admin.key` (mode 0600)."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            raw = auth.recovery_key(session)
            session.commit()
    finally:
        engine.dispose()
    write_admin_key(settings, raw)
    return raw


def live_admin_key(settings: Settings) -> str:
    """The key `up` hands the API: the kept one, unless it was revoked, then a fresh one (kept instead).

    Without this a revoked key in `admin.key` would come back at every restart and lock the CLI out.
    A revoked DEEPFEAT_BOOTSTRAP_KEY is the operator's own setting: it is reported, never replaced.
    """
    raw = admin_key(settings)
    if not is_revoked(settings, raw):
        return raw
    if settings.bootstrap_key is not None:
        err.print(
            "[red]DEEPFEAT_BOOTSTRAP_KEY is revoked[/red]: set a new one or run `deepfeat admin-key --new`"
        )
        return raw
    err.print(f"the admin key in {settings.admin_key_file} was revoked: issuing a new one")
    return issue_recovery_key(settings)


def write_admin_key(settings: Settings, raw: str) -> None:
    """Replace `admin.key` atomically, readable by its owner only."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fresh = settings.data_dir / f".admin.key.{secrets.token_hex(4)}"
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(raw + "\n")
    os.replace(fresh, settings.admin_key_file)


def is_revoked(settings: Settings, raw: str) -> bool:
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            return auth.is_revoked(session, raw)
    finally:
        engine.dispose()
