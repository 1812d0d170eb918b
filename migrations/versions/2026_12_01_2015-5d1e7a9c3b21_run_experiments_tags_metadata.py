"""runs: experiment, tags, metadata; encoders: archived_at

Runs are found by experiment (indexed with the project), tags (a JSON list) and metadata (a JSON object
of up to 16 string pairs). Existing runs land in experiment `default` with no tags and no metadata.
An archived encoder version keeps its row (extractions point at it) but is no longer listed or served.

Revision ID: 5d1e7a9c3b21
Revises: eea048e123ed
Create Date: 2026-12-01 20:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import deepfeat.db.types

revision: str = "5d1e7a9c3b21"
down_revision: str | None = "eea048e123ed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column("experiment", sa.String(length=200), server_default="default", nullable=False)
        )
        batch.add_column(sa.Column("tags", JSON, server_default="[]", nullable=False))
        batch.add_column(sa.Column("metadata", JSON, server_default="{}", nullable=False))
        batch.create_index("ix_runs_project_experiment", ["project_id", "experiment"], unique=False)
    with op.batch_alter_table("encoders") as batch:
        batch.add_column(
            sa.Column("archived_at", deepfeat.db.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("encoders") as batch:
        batch.drop_column("archived_at")
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_project_experiment")
        batch.drop_column("metadata")
        batch.drop_column("tags")
        batch.drop_column("experiment")
