"""dataset versions, layout, source and soft delete

Rows from before this migration hold one `.npz` (layout `npz`, the server default); new rows write a
manifest of `.npy` blobs (layout `npy`). `version` counts uploads under one name, `source_key` keeps the
uploaded bytes, `deleted_at` marks a dataset deleted while finished runs still refer to it.

Revision ID: a1a1e595db99
Revises: cc7616bc5eeb
Create Date: 2026-11-29 06:38:07.078431
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import deepfeat.db.types

revision: str = "a1a1e595db99"
down_revision: str | None = "cc7616bc5eeb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("layout", sa.String(length=16), server_default="npz", nullable=False))
        batch_op.add_column(sa.Column("source_key", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("deleted_at", deepfeat.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_datasets_project_name", ["project_id", "name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_index("ix_datasets_project_name")
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("source_key")
        batch_op.drop_column("layout")
        batch_op.drop_column("version")
