"""Jurisdiction as data: areas, departments, the category catalogue, routing rules, SLAs, settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow

AREA_LEVELS = ("district", "street", "community")
PRIORITIES = ("emergency", "urgent", "normal")


class Area(Base):
    """District → street → community. Geometry is the project's own (for maps without tiles)."""

    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    level: Mapped[str] = mapped_column(String(12))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    centroid_lat: Mapped[float | None] = mapped_column(Float)
    centroid_lon: Mapped[float | None] = mapped_column(Float)
    #: GeoJSON-like polygon ``[[lon, lat], ...]`` for the public map (streets and the district).
    boundary: Mapped[list[list[float]] | None] = mapped_column(JSON)

    parent: Mapped[Area | None] = relationship(remote_side="Area.id", back_populates="children")
    children: Mapped[list[Area]] = relationship(back_populates="parent")

    def street(self) -> Area | None:
        """The street this area belongs to (itself for a street, None for the district)."""
        node: Area | None = self
        while node is not None and node.level != "street":
            node = node.parent
        return node


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str | None] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    #: A street office (街道办) serves one street; line departments serve the whole district.
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    active: Mapped[bool] = mapped_column(default=True)

    area: Mapped[Area | None] = relationship()


class Category(Base):
    """Two levels: a group (parent None, e.g. 城乡建设) and its categories (e.g. 住房保障与房地产)."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)  # Open311 service_code
    name: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str | None] = mapped_column(String(120))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    default_priority: Mapped[str] = mapped_column(String(12), default="normal")
    active: Mapped[bool] = mapped_column(default=True)

    parent: Mapped[Category | None] = relationship(remote_side="Category.id", back_populates="children")
    children: Mapped[list[Category]] = relationship(back_populates="parent")

    @property
    def group(self) -> Category:
        return self.parent or self

    @property
    def is_group(self) -> bool:
        return self.parent_id is None


class SlaProfile(Base):
    """Hours to respond (accept and contact) and to resolve, after the 12345 practice."""

    __tablename__ = "sla_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)  # emergency, utilities, general, complex
    name: Mapped[str] = mapped_column(String(80))
    respond_hours: Mapped[int] = mapped_column(Integer)
    resolve_hours: Mapped[int] = mapped_column(Integer)


routing_rule_co_departments = Table(
    "routing_rule_co_departments",
    Base.metadata,
    Column("rule_id", ForeignKey("routing_rules.id", ondelete="CASCADE"), primary_key=True),
    Column("department_id", ForeignKey("departments.id"), primary_key=True),
)


class RoutingRule(Base):
    """Category (or whole group) × optional area → lead department, co-departments and an SLA.

    The most specific rule wins: category before group, community before street before none.
    """

    __tablename__ = "routing_rules"
    __table_args__ = (UniqueConstraint("category_id", "area_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    sla_profile_id: Mapped[int] = mapped_column(ForeignKey("sla_profiles.id"))
    active: Mapped[bool] = mapped_column(default=True)

    category: Mapped[Category] = relationship()
    area: Mapped[Area | None] = relationship()
    department: Mapped[Department] = relationship()
    co_departments: Mapped[list[Department]] = relationship(secondary=routing_rule_co_departments)
    sla_profile: Mapped[SlaProfile] = relationship()


class Setting(Base):
    """Jurisdiction-wide settings edited by admins (triage threshold, verdict days, …)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


#: Defaults for ``Setting`` rows; ``portal.jurisdiction.services.get_setting`` falls back to these.
DEFAULT_SETTINGS: dict[str, Any] = {
    "triage_confidence_threshold": 0.6,
    "verdict_days": 7,
    "transfer_needs_approval": True,
    "tracking_prefix": "LJ",
    # Deliberation (portal.deliberation): thresholds, windows, participation levels, moderation.
    "proposal_support_threshold": 50,
    "proposal_support_window_days": 60,
    "level_to_create_proposal": 1,
    "level_to_support_proposal": 2,
    "level_to_comment": 0,
    "comment_edit_window_minutes": 15,
    "moderation_report_threshold": 3,
    "prohibited_words": [],
    # Retention (portal.privacy.retention): days after a case is closed.
    "retention_contact_days": 180,
    "retention_raw_text_days": 365,
    "retention_coordinates_days": 365,
    # Hotspots (portal.hotspots): clusters over the last window, surges of the last days
    # against a trailing baseline.
    "hotspot_window_days": 14,
    "hotspot_surge_days": 1,
    "hotspot_baseline_days": 28,
    "hotspot_surge_min_count": 5,
    "hotspot_cluster_min_size": 3,
}
