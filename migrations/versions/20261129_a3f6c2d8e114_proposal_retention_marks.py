"""proposal_retention_marks: retention steps applied to finished proposals and their comments

Revision ID: a3f6c2d8e114
Revises: e7a3c9d1f5b2
Create Date: 2026-11-29 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "a3f6c2d8e114"
down_revision = "e7a3c9d1f5b2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proposal_retention_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("data_class", sa.String(length=20), nullable=False),
        sa.Column("applied_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_proposal_retention_marks_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_retention_marks")),
        sa.UniqueConstraint(
            "proposal_id",
            "data_class",
            name=op.f("uq_proposal_retention_marks_proposal_id_data_class"),
        ),
    )
    with op.batch_alter_table("proposal_retention_marks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_proposal_retention_marks_proposal_id"), ["proposal_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("proposal_retention_marks")
