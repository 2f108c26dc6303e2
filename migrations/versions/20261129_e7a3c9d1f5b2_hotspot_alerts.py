"""hotspot_alerts: early-warning alerts (portal.hotspots)

Revision ID: e7a3c9d1f5b2
Revises: d5f1b7c3e902
Create Date: 2026-11-29 14:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "e7a3c9d1f5b2"
down_revision = "d5f1b7c3e902"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hotspot_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("case_ids", sa.JSON(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("window_start", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("window_end", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actioned_by_id", sa.Integer(), nullable=True),
        sa.Column("actioned_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("action_note", sa.String(length=500), nullable=True),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
        sa.Column("task_case_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actioned_by_id"], ["users.id"], name=op.f("fk_hotspot_alerts_actioned_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_hotspot_alerts_area_id_areas")
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_hotspot_alerts_category_id_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_hotspot_alerts_proposal_id_proposals")
        ),
        sa.ForeignKeyConstraint(
            ["task_case_id"], ["cases.id"], name=op.f("fk_hotspot_alerts_task_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotspot_alerts")),
    )
    with op.batch_alter_table("hotspot_alerts", schema=None) as batch_op:
        for column in ("kind", "status", "area_id", "category_id", "window_end"):
            batch_op.create_index(batch_op.f(f"ix_hotspot_alerts_{column}"), [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hotspot_alerts", schema=None) as batch_op:
        for column in ("kind", "status", "area_id", "category_id", "window_end"):
            batch_op.drop_index(batch_op.f(f"ix_hotspot_alerts_{column}"))
    op.drop_table("hotspot_alerts")
