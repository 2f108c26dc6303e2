"""dp_releases: the ledger of differentially private releases (portal.oversight)

Revision ID: c4e8a2f61d09
Revises: b7d3e5a1c2f4
Create Date: 2026-11-29 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "c4e8a2f61d09"
down_revision = "b7d3e5a1c2f4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dp_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("query", sa.String(length=40), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("sensitivity", sa.Integer(), nullable=False),
        sa.Column("scale", sa.Float(), nullable=False),
        sa.Column("mechanism", sa.String(length=60), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dp_releases")),
        sa.UniqueConstraint("month", "query", name=op.f("uq_dp_releases_month_query")),
    )
    with op.batch_alter_table("dp_releases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dp_releases_month"), ["month"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dp_releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dp_releases_month"))
    op.drop_table("dp_releases")
