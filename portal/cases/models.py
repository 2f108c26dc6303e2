"""Cases: what a resident raised, its department tasks, its append-only events, photos, followers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.privacy.crypto import EncryptedText, lookup_hash_column

KINDS = ("complaint", "inquiry", "proposal", "praise")
CHANNELS = ("web", "telegram", "api", "open311", "staff")


class Case(Base):
    """One complaint, inquiry, proposal or praise. Public pages show only public columns.

    Sensitivity of each column is noted as ``level:``; raw text and contacts never leave staff views.
    """

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_number: Mapped[str] = mapped_column(String(24), unique=True)  # level: public
    kind: Mapped[str] = mapped_column(String(12), default="complaint")  # public
    status: Mapped[str] = mapped_column(String(16), index=True)  # public (see cases.status)
    priority: Mapped[str] = mapped_column(String(12), default="normal")  # public
    channel: Mapped[str] = mapped_column(String(12), default="web")  # public
    text_raw: Mapped[str] = mapped_column(EncryptedText("cases.text_raw"))  # level: sensitive
    text_masked: Mapped[str] = mapped_column(Text)  # public
    title: Mapped[str] = mapped_column(String(120))  # public: first words of the masked text
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)  # public
    address_text: Mapped[str | None] = mapped_column(EncryptedText("cases.address_text"))  # sensitive
    lat: Mapped[float | None] = mapped_column(Float)  # level: internal (exact point)
    lon: Mapped[float | None] = mapped_column(Float)  # level: internal
    lead_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    sla_profile_id: Mapped[int | None] = mapped_column(ForeignKey("sla_profiles.id"))
    submitter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)  # internal
    anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    me_too_count: Mapped[int] = mapped_column(Integer, default=0)
    # The engine's reading, kept for triage, audits and the transparency page.
    predicted_category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    predicted_kind: Mapped[str | None] = mapped_column(String(12))
    predicted_urgency: Mapped[str | None] = mapped_column(String(12))
    prediction_confidence: Mapped[float | None] = mapped_column(Float)
    prediction_explanation: Mapped[list[str]] = mapped_column(JSON, default=list)
    model_version: Mapped[str | None] = mapped_column(String(64))
    triage_reason: Mapped[str | None] = mapped_column(String(40))  # low_confidence, no_rule, returned
    # Deadlines and milestones (UTC).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True  # the dashboards' watermark
    )
    respond_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Optimistic lock: two clerks acting on one case at once → one wins, one gets StaleDataError.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    category: Mapped[Category | None] = relationship(foreign_keys=[category_id])  # noqa: F821
    predicted_category: Mapped[Category | None] = relationship(  # noqa: F821
        foreign_keys=[predicted_category_id]
    )
    area: Mapped[Area | None] = relationship()  # noqa: F821
    lead_department: Mapped[Department | None] = relationship()  # noqa: F821
    sla_profile: Mapped[SlaProfile | None] = relationship()  # noqa: F821
    submitter: Mapped[User | None] = relationship()  # noqa: F821
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", cascade="all, delete-orphan"
    )
    tasks: Mapped[list[CaseTask]] = relationship(
        back_populates="case", order_by="CaseTask.id", cascade="all, delete-orphan"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="case", order_by="Attachment.id", cascade="all, delete-orphan"
    )
    contact: Mapped[CaseContact | None] = relationship(
        back_populates="case", cascade="all, delete-orphan", uselist=False
    )

    def is_overdue(self, now: datetime | None = None) -> bool:
        from portal.cases.status import OPEN_STATUSES

        now = now or utcnow()
        return self.status in OPEN_STATUSES and self.due_at is not None and self.due_at < now


class CaseContact(Base):
    """The resident's contact details for one case: need-to-know, never on public pages."""

    __tablename__ = "case_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str | None] = mapped_column(EncryptedText("case_contacts.name"))  # sensitive
    phone: Mapped[str | None] = mapped_column(EncryptedText("case_contacts.phone"))  # sensitive
    #: Keyed hash of the phone's digits for equality lookups (set by portal.privacy.models), as
    #: ``<hash key id>:<hex>`` (bare hex: hash key h1); match with ``phone_lookup_hashes``.
    phone_hash: Mapped[str | None] = mapped_column(
        String(100),
        index=True,
        info=lookup_hash_column("phone", "phone", meaning="contacts found by phone number"),
    )
    consent_purpose: Mapped[str | None] = mapped_column(String(60))
    consent_notice_version: Mapped[str | None] = mapped_column(String(20))
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship(back_populates="contact")


class CaseTask(Base):
    """A department's share of a case: the lead task and any co-handling tasks (主办/协办)."""

    __tablename__ = "case_tasks"
    __table_args__ = (UniqueConstraint("case_id", "department_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    role: Mapped[str] = mapped_column(String(8))  # lead | co
    status: Mapped[str] = mapped_column(String(12), default="open")  # open, accepted, done, withdrawn
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship(back_populates="tasks")
    department: Mapped[Department] = relationship()  # noqa: F821


class CaseEvent(Base):
    """Append-only history of a case: the public timeline, the audit trail, KPIs, notifications."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(24), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Role the actor acted in (resident, staff, coordinator, system, ...), public.
    actor_role: Mapped[str] = mapped_column(String(20), default="system")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(Text)  # public if ``public``; masked before storage
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()  # noqa: F821
    department: Mapped[Department | None] = relationship()  # noqa: F821


class Attachment(Base):
    """A photo stored under the upload folder (metadata stripped), linked to a case or event."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_events.id"))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    storage_name: Mapped[str] = mapped_column(String(80), unique=True)  # random name on disk
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="attachments")


class CaseFollower(Base):
    """A resident subscribed to a case (the submitter, and everyone who pressed "me too")."""

    __tablename__ = "case_followers"
    __table_args__ = (UniqueConstraint("case_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(String(12), default="submitter")  # submitter | me_too | follow
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """Transactional outbox: written in the same transaction as the change that causes it.

    Channels (the bot, e-mail) read pending rows after a cursor and acknowledge them.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_events.id"))
    kind: Mapped[str] = mapped_column(String(24))  # status_changed, reply, verdict_request, ...
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # public fields only
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TrackingCounter(Base):
    """Per-month sequence for tracking numbers (``LJ-2611-0042-7``): one row per ``YYMM``.

    Incremented with a single ``UPDATE … RETURNING`` so concurrent submissions never share a
    number (the row lock is held until the submitting transaction ends).
    """

    __tablename__ = "tracking_counters"

    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)
