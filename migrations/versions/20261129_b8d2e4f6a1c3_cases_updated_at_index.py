"""cases.updated_at index: the public dashboards check max(updated_at) on every request

Revision ID: b8d2e4f6a1c3
Revises: a3f6c2d8e114
Create Date: 2026-11-29 16:55:00
"""

from __future__ import annotations

from alembic import op

revision = "b8d2e4f6a1c3"
down_revision = "a3f6c2d8e114"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_updated_at"), ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_updated_at"))
