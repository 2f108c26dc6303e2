"""proposal_events.data: what the system says on a proposal's history, as a message code with
its arguments (portal.system_messages), translated when read

Events written before this revision get ``{}``: their ``note`` is shown as stored.

Revision ID: c7e2a9d4b1f8
Revises: a9c4e2b7d310
Create Date: 2026-11-29 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c7e2a9d4b1f8"
down_revision = "a9c4e2b7d310"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proposal_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("data", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("proposal_events", schema=None) as batch_op:
        batch_op.drop_column("data")
