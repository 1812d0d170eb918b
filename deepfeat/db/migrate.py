"""Schema versioning through Alembic, callable from code: `deepfeat migrate`, start-up checks, tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import migrations

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


class SchemaOutOfDateError(RuntimeError):
    """The database is not at the revision this code needs."""


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would read a '%' in a password as a placeholder.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def ensure_up_to_date(engine: Engine) -> None:
    """Refuse to serve on a schema other than the one this code was written for."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        found = current or "empty (never migrated)"
        raise SchemaOutOfDateError(
            f"database schema is {found}, this deepfeat needs {head}: run `deepfeat migrate` first"
        )
