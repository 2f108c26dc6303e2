"""verification code batches (issued on the admin page) and phones confirmed through Telegram

Codes issued before this revision keep ``batch_id`` NULL (they still work; they are simply not
listed as a batch).

Revision ID: a9c4e2b7d310
Revises: f4b9d2c7e1a5
Create Date: 2026-11-29 18:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "a9c4e2b7d310"
down_revision = "f4b9d2c7e1a5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verification_code_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("issued_by", sa.String(length=120), nullable=False),
        sa.Column("issued_by_user_id", sa.Integer(), nullable=True),
        sa.Column("request_token", sa.String(length=64), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_verification_code_batches_area_id_areas")
        ),
        sa.ForeignKeyConstraint(
            ["issued_by_user_id"],
            ["users.id"],
            name=op.f("fk_verification_code_batches_issued_by_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_code_batches")),
        sa.UniqueConstraint(
            "request_token", name=op.f("uq_verification_code_batches_request_token")
        ),
    )
    with op.batch_alter_table("verification_code_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_verification_code_batches_area_id"), ["area_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_verification_code_batches_created_at"), ["created_at"], unique=False
        )
    with op.batch_alter_table("verification_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_verification_codes_batch_id"), ["batch_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_verification_codes_batch_id_verification_code_batches"),
            "verification_code_batches",
            ["batch_id"],
            ["id"],
        )
    op.create_table(
        "confirmed_phones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("phone_hash", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("confirmed_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_confirmed_phones_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confirmed_phones")),
        sa.UniqueConstraint("phone_hash", name=op.f("uq_confirmed_phones_phone_hash")),
        sa.UniqueConstraint("user_id", name=op.f("uq_confirmed_phones_user_id")),
    )


def downgrade() -> None:
    op.drop_table("confirmed_phones")
    with op.batch_alter_table("verification_codes", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_verification_codes_batch_id_verification_code_batches"),
            type_="foreignkey",
        )
        batch_op.drop_index(batch_op.f("ix_verification_codes_batch_id"))
        batch_op.drop_column("batch_id")
    with op.batch_alter_table("verification_code_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verification_code_batches_created_at"))
        batch_op.drop_index(batch_op.f("ix_verification_code_batches_area_id"))
    op.drop_table("verification_code_batches")
