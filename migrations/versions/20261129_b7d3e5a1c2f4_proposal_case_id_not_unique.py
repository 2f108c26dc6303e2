"""proposals.case_id: a plain index instead of UNIQUE

Setting a UNIQUE column is a key update to PostgreSQL: it needs a lock that conflicts with the
key-share locks concurrent supports' foreign keys hold on the proposal row, and deadlocked the
threshold under load (tests/deliberation/test_race.py).

Revision ID: b7d3e5a1c2f4
Revises: 9e99690c7a9f
Create Date: 2026-11-29 13:40:00
"""

from __future__ import annotations

from alembic import op

revision = "b7d3e5a1c2f4"
down_revision = "9e99690c7a9f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_proposals_case_id"), type_="unique")
        batch_op.create_index(batch_op.f("ix_proposals_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposals_case_id"))
        batch_op.create_unique_constraint(batch_op.f("uq_proposals_case_id"), ["case_id"])
