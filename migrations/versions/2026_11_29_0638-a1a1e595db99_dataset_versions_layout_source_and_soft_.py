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
    _number_existing_versions()
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_datasets_project_name_version", ["project_id", "name", "version"]
        )


def _number_existing_versions() -> None:
    """Rows that share a name in a project (possible before versions existed) become versions 1..n in
    the order they were created, so the unique constraint holds."""
    bind = op.get_bind()
    datasets = sa.table(
        "datasets",
        sa.column("id", sa.String),
        sa.column("project_id", sa.String),
        sa.column("name", sa.String),
        sa.column("created_at", sa.DateTime),
        sa.column("version", sa.Integer),
    )
    rows = bind.execute(
        sa.select(datasets.c.id, datasets.c.project_id, datasets.c.name).order_by(
            datasets.c.project_id, datasets.c.name, datasets.c.created_at, datasets.c.id
        )
    ).all()
    seen: dict[tuple[str, str], int] = {}
    for row_id, project_id, name in rows:
        version = seen[(project_id, name)] = seen.get((project_id, name), 0) + 1
        if version > 1:
            bind.execute(sa.update(datasets).where(datasets.c.id == row_id).values(version=version))


def downgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_constraint("uq_datasets_project_name_version", type_="unique")
        batch_op.drop_index("ix_datasets_project_name")
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("source_key")
        batch_op.drop_column("layout")
        batch_op.drop_column("version")
