"""Deliberation: proposals, supports, discussion threads, likes, reports, blocks, verification codes.

Sensitivity of columns is noted as ``level:`` like in :mod:`portal.cases.models`. Comment bodies
are stored raw and escaped on output; proposal bodies are stored raw (internal) and masked (public).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.privacy.crypto import EncryptedText, lookup_hash_column, phone_lookup_hash

#: Visibility of a proposal or comment as far as moderation goes.
VISIBLE = "visible"
HELD = "held"  # waiting for a moderator (reports reached the threshold, or a prohibited word)
HIDDEN = "hidden"  # a moderator hid it
MODERATION_STATES = (VISIBLE, HELD, HIDDEN)

STANCES = ("for", "neutral", "against")
ANSWER_OUTCOMES = ("accepted", "partly_accepted", "rejected")


class Proposal(Base):
    """A resident's proposal (建议/议题): open for support, then answered by a department."""

    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))  # public (masked)
    body_raw: Mapped[str] = mapped_column(EncryptedText("proposals.body_raw"))  # sensitive
    body_masked: Mapped[str] = mapped_column(Text)  # public
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    lat: Mapped[float | None] = mapped_column(Float)  # level: internal (an approximate place)
    lon: Mapped[float | None] = mapped_column(Float)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)  # internal
    #: The complaint a resident turned into this proposal (public link, masked text only).
    source_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    #: The case of kind "proposal" created at the threshold: the department works it in its queue.
    #: Not UNIQUE on purpose: a unique column is a "key" to PostgreSQL, and setting it would need
    #: a row lock that conflicts with the key-share locks concurrent supports' foreign keys hold
    #: (a deadlock the race test found). One case per proposal is kept by the row lock instead.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # see deliberation.lifecycle
    support_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Snapshot of the threshold and window at creation, so later setting changes don't move goals.
    support_threshold: Mapped[int] = mapped_column(Integer)
    support_deadline: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    threshold_reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answer_outcome: Mapped[str | None] = mapped_column(String(20))  # accepted, partly_accepted, …
    answer_text: Mapped[str | None] = mapped_column(Text)  # public (masked)
    answer_reasons: Mapped[str | None] = mapped_column(Text)  # public (masked)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_by_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    progress: Mapped[int] = mapped_column(Integer, default=0)  # 0–100, in implementation
    #: public: the author's words when withdrawn (an archived one's reason is a system message
    #: on its archive event; proposals archived before that kept the text here).
    closed_reason: Mapped[str | None] = mapped_column(Text)
    moderation: Mapped[str] = mapped_column(String(10), default=VISIBLE)
    moderation_reason: Mapped[str | None] = mapped_column(Text)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),
        CheckConstraint("support_count >= 0", name="support_count_nonnegative"),
    )

    category: Mapped[Category] = relationship()  # noqa: F821
    area: Mapped[Area | None] = relationship()  # noqa: F821
    author: Mapped[User] = relationship()  # noqa: F821
    case: Mapped[Case | None] = relationship(foreign_keys=[case_id])  # noqa: F821
    source_case: Mapped[Case | None] = relationship(foreign_keys=[source_case_id])  # noqa: F821
    answered_by_department: Mapped[Department | None] = relationship()  # noqa: F821
    events: Mapped[list[ProposalEvent]] = relationship(
        back_populates="proposal", order_by="ProposalEvent.id", cascade="all, delete-orphan"
    )
    milestones: Mapped[list[ProposalMilestone]] = relationship(
        back_populates="proposal",
        order_by="ProposalMilestone.on_date, ProposalMilestone.id",
        cascade="all, delete-orphan",
    )


class ProposalEvent(Base):
    """Append-only public history of a proposal (status changes, progress, moderation notes)."""

    __tablename__ = "proposal_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(20), default="system")
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)  # public, masked: a person's words only
    #: ``{"message": {"code", "args"}}`` for what the system says (portal.system_messages).
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    proposal: Mapped[Proposal] = relationship(back_populates="events")


class ProposalMilestone(Base):
    """A dated step of an accepted proposal's implementation (public)."""

    __tablename__ = "proposal_milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    on_date: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    progress: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    proposal: Mapped[Proposal] = relationship(back_populates="milestones")


class Support(Base):
    """One resident's support for one proposal: the UNIQUE constraint is the one-person-one-support
    rule, whatever the channel (a linked Telegram identity is the same ``User``)."""

    __tablename__ = "proposal_supports"
    __table_args__ = (UniqueConstraint("proposal_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)  # internal
    channel: Mapped[str] = mapped_column(String(12), default="web")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProposalFollower(Base):
    """Someone told about a proposal's progress (author, supporters, those who pressed follow)."""

    __tablename__ = "proposal_followers"
    __table_args__ = (UniqueConstraint("proposal_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(String(12), default="follow")  # author | support | follow
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Comment(Base):
    """A comment in the thread of a proposal or of a public case; replies nest to depth 3."""

    __tablename__ = "comments"
    __table_args__ = (
        CheckConstraint("(proposal_id IS NULL) <> (case_id IS NULL)", name="exactly_one_target"),
        CheckConstraint("depth >= 1 AND depth <= 3", name="depth_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int | None] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id"), index=True)
    depth: Mapped[int] = mapped_column(Integer, default=1)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    stance: Mapped[str] = mapped_column(String(8), default="neutral")
    body: Mapped[str] = mapped_column(Text)  # public (raw; always escaped when rendered)
    like_count: Mapped[int] = mapped_column(Integer, default=0)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    moderation: Mapped[str] = mapped_column(String(10), default=VISIBLE)
    moderation_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    author: Mapped[User] = relationship()  # noqa: F821
    parent: Mapped[Comment | None] = relationship(remote_side="Comment.id")


class CommentLike(Base):
    __tablename__ = "comment_likes"
    __table_args__ = (UniqueConstraint("comment_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContentReport(Base):
    """A signed-in person's report of a comment or proposal (once per person per item)."""

    __tablename__ = "content_reports"
    __table_args__ = (UniqueConstraint("target_type", "target_id", "reporter_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_type: Mapped[str] = mapped_column(String(10))  # comment | proposal
    target_id: Mapped[int] = mapped_column(Integer, index=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # internal
    reason: Mapped[str] = mapped_column(Text)  # internal (moderators only)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ParticipationBlock(Base):
    """A moderator barred this person from creating, supporting and commenting until a date."""

    __tablename__ = "participation_blocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    blocked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)  # internal
    blocked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AreaParticipationRule(Base):
    """Per-area override of the jurisdiction's support threshold and window (most specific wins)."""

    __tablename__ = "area_participation_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), unique=True)
    support_threshold: Mapped[int | None] = mapped_column(Integer)
    support_window_days: Mapped[int | None] = mapped_column(Integer)

    area: Mapped[Area] = relationship()  # noqa: F821


class VerificationCodeBatch(Base):
    """Codes issued together (by an administrator on ``/admin/verification-codes`` or by the
    ``issue-verification-codes`` command): the unit the office prints, tracks and revokes."""

    __tablename__ = "verification_code_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    issued_by: Mapped[str] = mapped_column(String(120))  # the office handing them out
    issued_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The issuing form's one-time token: a re-sent form (reload, double click) issues nothing.
    request_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    area: Mapped[Area | None] = relationship()  # noqa: F821
    issued_by_user: Mapped[User | None] = relationship()  # noqa: F821


class VerificationCode(Base):
    """A one-time code handed out by a community office: entering it raises a resident to its
    level (2, verified resident, or 1, phone confirmed). Only a hash of the code is stored."""

    __tablename__ = "verification_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)  # level: secret-derived
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("verification_code_batches.id"), index=True
    )
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    issued_by: Mapped[str] = mapped_column(String(120))
    level: Mapped[int] = mapped_column(Integer, default=2)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class ConfirmedPhone(Base):
    """A resident's phone number confirmed by a channel that vouches for it (Telegram, when the
    resident shares their own contact): it raised the account to level 1. One per account."""

    __tablename__ = "confirmed_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    phone: Mapped[str] = mapped_column(EncryptedText("confirmed_phones.phone"))  # sensitive
    #: Keyed hash of the phone's digits (set on flush, below), as ``<hash key id>:<hex>`` (bare
    #: hex: hash key h1); match with ``phone_lookup_hashes``. One number confirms one account.
    phone_hash: Mapped[str] = mapped_column(
        String(100),
        unique=True,
        info=lookup_hash_column(
            "phone", "phone", meaning="one phone number confirming two accounts (level 1)"
        ),
    )
    channel: Mapped[str] = mapped_column(String(20))
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@event.listens_for(ConfirmedPhone, "before_insert")
@event.listens_for(ConfirmedPhone, "before_update")
def _hash_confirmed_phone(_mapper: Any, _connection: Any, row: ConfirmedPhone) -> None:
    row.phone_hash = phone_lookup_hash(row.phone) or ""
