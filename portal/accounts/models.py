"""Accounts: residents and staff, their roles and their channel identities."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.privacy.crypto import EncryptedText, lookup_hash_column


class Role(enum.StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"  # department clerk
    HEAD = "head"  # department head
    COORDINATOR = "coordinator"  # 12345 dispatcher: triage and re-routing
    MODERATOR = "moderator"
    ADMIN = "admin"


STAFF_ROLES = frozenset({Role.STAFF, Role.HEAD})
DEPARTMENT_ROLES = STAFF_ROLES


class User(UserMixin, Base):
    """Anyone who signs in. Residents may have no e-mail (a Telegram-only resident)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)  # level: internal
    display_name: Mapped[str] = mapped_column(String(80))  # level: internal (public only if chosen)
    password_hash: Mapped[str | None] = mapped_column(String(256))  # level: secret-derived
    role: Mapped[str] = mapped_column(String(20), default=Role.RESIDENT.value, index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    locale: Mapped[str] = mapped_column(String(16), default="zh_Hans_CN")
    #: Participation level: 0 registered, 1 phone confirmed, 2 resident verified (deliberation).
    verification_level: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Consecutive failed sign-ins since the last success (reset on success; shown to admins).
    failed_login_count: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    department: Mapped[Department | None] = relationship()  # noqa: F821

    @property
    def is_active(self) -> bool:  # flask-login
        return self.active

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    def has_role(self, *roles: Role | str) -> bool:
        return self.role in {str(r) for r in roles}


class ChannelIdentity(Base):
    """A resident as known to a channel (``telegram:<user id>``), linked to a ``User`` row."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    #: level: sensitive (a Telegram id), encrypted; look it up by ``external_id_hash``.
    external_id: Mapped[str] = mapped_column(EncryptedText("channel_identities.external_id"))
    #: Keyed hash of ``channel:external_id`` (set by portal.privacy.models on flush), stored as
    #: ``<hash key id>:<hex>`` (bare hex: hash key h1); match with ``identity_lookup_hashes``.
    external_id_hash: Mapped[str] = mapped_column(
        String(100),
        info=lookup_hash_column(
            "channel_identity",
            "channel",
            "external_id",
            meaning="residents' channel links (the bot would treat them as new residents)",
        ),
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()
