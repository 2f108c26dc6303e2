"""Workbench models: response templates, labelled examples, resident verdicts, transfer requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow

#: Where a labelled example came from.
EXAMPLE_SOURCES = ("triage_correction", "returned_not_ours")
#: A verdict's outcome: the resident answered (resolved / not_resolved) or the timeout job closed it.
VERDICT_OUTCOMES = ("resolved", "not_resolved", "unrated")
TRANSFER_STATUSES = ("pending", "approved", "rejected")


class ResponseTemplate(Base):
    """A reusable reply text for a category (or its whole group, or every category when unset).

    ``body`` may contain the placeholders ``{tracking_number}``, ``{category}``, ``{department}``
    and ``{date}``; staff pick a template, the text is filled in and they edit it before sending.
    """

    __tablename__ = "response_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    title: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    category: Mapped[Category | None] = relationship()  # noqa: F821


class LabelledExample(Base):
    """A human correction of the engine: training data for ``python -m nlp train``.

    ``text`` is the masked case text (never the raw text). Predicted and corrected labels are kept
    as codes so the export stays stable when names change; ``corrected_*`` of a "not ours" return
    stay empty until a coordinator dispatches the case again.
    """

    __tablename__ = "labelled_examples"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    text: Mapped[str] = mapped_column(Text)  # level: public (masked)
    kind: Mapped[str | None] = mapped_column(String(12))
    urgency: Mapped[str | None] = mapped_column(String(12))
    predicted_group_code: Mapped[str | None] = mapped_column(String(20))
    predicted_category_code: Mapped[str | None] = mapped_column(String(20))
    predicted_department_code: Mapped[str | None] = mapped_column(String(40))
    corrected_group_code: Mapped[str | None] = mapped_column(String(20))
    corrected_category_code: Mapped[str | None] = mapped_column(String(20))
    corrected_department_code: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(24))  # triage_correction | returned_not_ours
    reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    corrected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User | None] = relationship()  # noqa: F821


class Verdict(Base):
    """The resident's answer (回访) to one resolution round of a case, or ``unrated`` on timeout.

    ``round`` is the number of the ``resolve`` event it answers (1 for the first resolution), so
    one case has at most one verdict per round and the rates can be computed exactly.
    """

    __tablename__ = "verdicts"
    __table_args__ = (UniqueConstraint("case_id", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # resolved | not_resolved | unrated
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    satisfaction: Mapped[int | None] = mapped_column(Integer)  # 1..5
    comment: Mapped[str | None] = mapped_column(Text)  # level: internal (masked)
    channel: Mapped[str] = mapped_column(String(12), default="web")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    case_resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    case: Mapped[Case] = relationship()  # noqa: F821


class TransferRequest(Base):
    """A department asks to hand a case to another one; a coordinator approves or rejects it."""

    __tablename__ = "transfer_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    from_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    to_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship()  # noqa: F821
    from_department: Mapped[Department] = relationship(foreign_keys=[from_department_id])  # noqa: F821
    to_department: Mapped[Department] = relationship(foreign_keys=[to_department_id])  # noqa: F821
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])  # noqa: F821
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])  # noqa: F821
