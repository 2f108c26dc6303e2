"""lookup hashes carry the id of their hash key: phone_hash and external_id_hash widened

A hash is now stored as ``<hash key id>:<64 hex>`` (up to 97 characters); the bare 64-character
values already stored belong to the legacy hash key ``h1`` and stay as they are (``keys rehash``
rewrites them after a rotation). Only the column width changes: nothing is recomputed here.

Revision ID: f4b9d2c7e1a5
Revises: b8d2e4f6a1c3
Create Date: 2026-11-29 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "f4b9d2c7e1a5"
down_revision = "b8d2e4f6a1c3"
branch_labels = None
depends_on = None

#: table → its lookup-hash column and whether it may be NULL.
HASH_COLUMNS = {
    "case_contacts": ("phone_hash", True),
    "channel_identities": ("external_id_hash", False),
}


def upgrade() -> None:
    for table, (column, nullable) in HASH_COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column,
                existing_type=sa.String(length=64),
                type_=sa.String(length=100),
                existing_nullable=nullable,
            )


def downgrade() -> None:
    conn = op.get_bind()
    for table, (column, _nullable) in HASH_COLUMNS.items():
        foreign = conn.execute(
            sa.text(
                f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL "
                f"AND length({column}) > 64 AND substr({column}, 1, 3) <> 'h1:'"
            )
        ).scalar_one()
        if foreign:
            raise RuntimeError(
                f"{foreign} values of {table}.{column} were made under a hash key other than h1; "
                "make h1 the active hash key and run `flask --app portal keys rehash` first"
            )
        conn.execute(
            sa.text(
                f"UPDATE {table} SET {column} = substr({column}, 4) "
                f"WHERE substr({column}, 1, 3) = 'h1:'"
            )
        )
    for table, (column, nullable) in HASH_COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column,
                existing_type=sa.String(length=100),
                type_=sa.String(length=64),
                existing_nullable=nullable,
            )
