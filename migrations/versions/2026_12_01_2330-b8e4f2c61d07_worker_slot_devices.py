"""worker slot devices

Each worker says which device each of its pool processes trains and extracts on (`slots`: index,
process, device, GPU id), so `GET /v1/workers` shows which GPU a run uses. Nullable: rows of workers
that predate this say nothing.

Revision ID: b8e4f2c61d07
Revises: 7d2c9e41b0a3
Create Date: 2026-12-01 23:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b8e4f2c61d07"
down_revision: str | None = "7d2c9e41b0a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("slots", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("slots")
