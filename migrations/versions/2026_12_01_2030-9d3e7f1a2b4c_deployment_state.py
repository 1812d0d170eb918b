"""deployment state

Values every host must agree on move from files in the data dir to the database (hosts share no disk):
the dashboard's signing secret and the key-revocation counter.

Revision ID: 9d3e7f1a2b4c
Revises: 5d1e7a9c3b21
Create Date: 2026-12-01 20:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import deepfeat.db.types

revision: str = "9d3e7f1a2b4c"
down_revision: str | None = "5d1e7a9c3b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deployment_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("version", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("updated_at", deepfeat.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_deployment_state")),
    )


def downgrade() -> None:
    op.drop_table("deployment_state")
