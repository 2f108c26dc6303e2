"""The differential-privacy release ledger: every published noisy table, stored once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow


class DpRelease(Base):
    """One noisy table released for one month and one query, never re-drawn.

    ``cells`` holds the published values: ``[{"area": code, "category": code, "count": n}, ...]``
    (the noisy counts only; the true counts are never stored). ``epsilon`` is what this release
    spent of the month's privacy budget; ``scale`` is the discrete Laplace scale
    (``sensitivity / epsilon``).
    """

    __tablename__ = "dp_releases"
    __table_args__ = (UniqueConstraint("month", "query"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM
    query: Mapped[str] = mapped_column(String(40))
    epsilon: Mapped[float] = mapped_column(Float)
    sensitivity: Mapped[int] = mapped_column(Integer)
    scale: Mapped[float] = mapped_column(Float)
    mechanism: Mapped[str] = mapped_column(String(60))
    cells: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
