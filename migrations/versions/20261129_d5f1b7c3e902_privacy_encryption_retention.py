"""privacy: encrypted sensitive columns, keyed lookup hashes, retention marks (portal.privacy)

Existing rows are converted in place: sensitive values are encrypted with the active data key and
the lookup hashes computed, with the key ring of the current settings (``SHUZHI_DATA_KEYS`` or
``<instance>/keys.json``). Downgrade decrypts them again.

Revision ID: d5f1b7c3e902
Revises: c4e8a2f61d09
Create Date: 2026-11-29 14:10:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "d5f1b7c3e902"
down_revision = "c4e8a2f61d09"
branch_labels = None
depends_on = None

#: table → encrypted columns (their AAD is ``table.column``).
ENCRYPTED = {
    "cases": ("text_raw", "address_text"),
    "case_contacts": ("name", "phone"),
    "channel_identities": ("external_id",),
    "proposals": ("body_raw",),
}


def _key_ring() -> Any:
    from portal.config import load_settings
    from portal.privacy.crypto import load_key_ring

    return load_key_ring(load_settings())


def _convert(encrypt: bool) -> None:
    from portal.privacy.crypto import is_ciphertext

    conn = op.get_bind()
    ring = None
    for table, columns in ENCRYPTED.items():
        rows = conn.execute(sa.text(f"SELECT id, {', '.join(columns)} FROM {table}")).all()
        for row in rows:
            ring = ring or _key_ring()
            values: dict[str, Any] = {}
            for column, value in zip(columns, row[1:], strict=True):
                if value is None:
                    continue
                aad = f"{table}.{column}"
                if encrypt and not is_ciphertext(value):
                    values[column] = ring.encrypt(value, aad=aad)
                elif not encrypt and is_ciphertext(value):
                    values[column] = ring.decrypt(value, aad=aad)
            if encrypt and table == "channel_identities":
                channel = conn.execute(
                    sa.text("SELECT channel FROM channel_identities WHERE id = :id"), {"id": row[0]}
                ).scalar_one()
                values["external_id_hash"] = ring.lookup_hash(
                    f"{channel}:{row[1]}", purpose="channel_identity"
                )
            if encrypt and table == "case_contacts" and row[2]:
                from portal.privacy.crypto import KeyRing

                digits = "".join(ch for ch in row[2] if ch.isdigit())
                if digits.startswith("86") and len(digits) == 13:
                    digits = digits[2:]
                assert isinstance(ring, KeyRing)
                values["phone_hash"] = ring.lookup_hash(digits, purpose="phone") if digits else None
            if values:
                assignments = ", ".join(f"{name} = :{name}" for name in values)
                conn.execute(
                    sa.text(f"UPDATE {table} SET {assignments} WHERE id = :id"),
                    {**values, "id": row[0]},
                )


def upgrade() -> None:
    with op.batch_alter_table("case_contacts", schema=None) as batch_op:
        batch_op.alter_column("name", existing_type=sa.String(length=200), type_=sa.Text())
        batch_op.alter_column("phone", existing_type=sa.String(length=200), type_=sa.Text())
        batch_op.add_column(sa.Column("phone_hash", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_case_contacts_phone_hash"), ["phone_hash"], unique=False
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("address_text", existing_type=sa.String(length=200), type_=sa.Text())
    with op.batch_alter_table("channel_identities", schema=None) as batch_op:
        batch_op.alter_column("external_id", existing_type=sa.String(length=64), type_=sa.Text())
        batch_op.add_column(sa.Column("external_id_hash", sa.String(length=64), nullable=True))
    _convert(encrypt=True)
    with op.batch_alter_table("channel_identities", schema=None) as batch_op:
        batch_op.alter_column(
            "external_id_hash", existing_type=sa.String(length=64), nullable=False
        )
        batch_op.drop_constraint("uq_channel_identities_channel_external_id", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_channel_identities_channel_external_id_hash"),
            ["channel", "external_id_hash"],
        )
    op.create_table(
        "retention_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("data_class", sa.String(length=20), nullable=False),
        sa.Column("applied_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_retention_marks_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_marks")),
        sa.UniqueConstraint(
            "case_id", "data_class", name=op.f("uq_retention_marks_case_id_data_class")
        ),
    )
    with op.batch_alter_table("retention_marks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retention_marks_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_table("retention_marks")
    _convert(encrypt=False)
    with op.batch_alter_table("channel_identities", schema=None) as batch_op:
        batch_op.drop_constraint("uq_channel_identities_channel_external_id_hash", type_="unique")
        batch_op.create_unique_constraint(
            "uq_channel_identities_channel_external_id", ["channel", "external_id"]
        )
        batch_op.drop_column("external_id_hash")
        batch_op.alter_column("external_id", existing_type=sa.Text(), type_=sa.String(length=64))
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("address_text", existing_type=sa.Text(), type_=sa.String(length=200))
    with op.batch_alter_table("case_contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_contacts_phone_hash"))
        batch_op.drop_column("phone_hash")
        batch_op.alter_column("phone", existing_type=sa.Text(), type_=sa.String(length=200))
        batch_op.alter_column("name", existing_type=sa.Text(), type_=sa.String(length=200))
