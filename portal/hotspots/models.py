"""Hotspot alerts: a surge of one category in one area, or a cluster of similar cases.

An alert is updated in place while its hotspot goes on (the detector is idempotent); a
coordinator acknowledges or dismisses it, or acts on it by opening a deliberation thread
(``proposal_id``) or a proactive task (``task_case_id``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow

KINDS = ("surge", "cluster")
STATUSES = ("new", "acknowledged", "actioned", "dismissed")
#: Statuses in which an alert still asks for attention.
OPEN_STATUSES = ("new", "acknowledged")


class HotspotAlert(Base):
    __tablename__ = "hotspot_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), index=True)  # internal
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)  # internal
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    #: Ids of the cases in the hotspot (masked texts only are read from them).
    case_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    size: Mapped[int] = mapped_column(Integer, default=0)
    terms: Mapped[list[str]] = mapped_column(JSON, default=list)  # top terms (a short summary)
    score: Mapped[float] = mapped_column(Float, default=0.0)  # count/expected, or cluster size
    #: Surges: {"count", "expected", "upper_bound"}; clusters: {"representatives", "likes"}.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actioned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    action_note: Mapped[str | None] = mapped_column(String(500))
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"))
    task_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))

    area: Mapped[Area | None] = relationship()  # noqa: F821
    category: Mapped[Category | None] = relationship()  # noqa: F821
    actioned_by: Mapped[User | None] = relationship()  # noqa: F821
    task_case: Mapped[Case | None] = relationship()  # noqa: F821
    proposal: Mapped[Proposal | None] = relationship()  # noqa: F821
