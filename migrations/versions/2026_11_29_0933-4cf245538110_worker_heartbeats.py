"""worker heartbeats

One row per running Celery worker, upserted every heartbeat and deleted on a clean shutdown: what the
dashboard's workers page, `GET /v1/workers` and the `deepfeat_live_workers` gauge read. No data to
carry over: workers write their rows within one heartbeat of starting on the new schema.

Revision ID: 4cf245538110
Revises: a1a1e595db99
Create Date: 2026-11-29 09:33:27.052207
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import deepfeat.db.types

revision: str = "4cf245538110"
down_revision: str | None = "a1a1e595db99"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("hostname", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(length=16), nullable=False),
        sa.Column("device_name", sa.String(length=200), nullable=False),
        sa.Column("queues", JSON, nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("processes", JSON, nullable=False),
        sa.Column("started_at", deepfeat.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", deepfeat.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workers_last_seen"), ["last_seen"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workers_last_seen"))
    op.drop_table("workers")
