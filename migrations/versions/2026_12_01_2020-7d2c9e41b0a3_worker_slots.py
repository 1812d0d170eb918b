"""worker slots

Workers say how many CPU cores and GPUs they have, so `:validate` can refuse a `training.world_size`
no live worker can serve. Nullable: rows of workers that predate this say nothing (unknown).

Revision ID: 7d2c9e41b0a3
Revises: 9d3e7f1a2b4c
Create Date: 2026-12-01 20:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d2c9e41b0a3"
down_revision: str | None = "9d3e7f1a2b4c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("cpu_cores", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("gpus", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("gpus")
        batch.drop_column("cpu_cores")
