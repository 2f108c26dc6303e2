"""The routing rules engine: category × area → lead department, co-departments, SLA, priority.

The most specific active rule wins:

    category + community  >  category + street  >  category  >  group + community
    >  group + street  >  group

Urgency raises the priority: an emergency uses the ``emergency`` SLA profile; an urgent case
keeps its profile but gets half the hours (never less than the emergency profile's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from portal.jurisdiction.models import (
    PRIORITIES,
    Area,
    Category,
    Department,
    RoutingRule,
    SlaProfile,
)

if TYPE_CHECKING:
    from portal.cases.models import Case

EMERGENCY_SLA = "emergency"
DEFAULT_SLA = "general"
#: Higher index = more pressing.
PRIORITY_RANK = {name: rank for rank, name in enumerate(reversed(PRIORITIES))}


@dataclass(frozen=True)
class RoutingDecision:
    """Where a case goes. ``rule``/``department`` are None when no rule matches (→ triage)."""

    rule: RoutingRule | None
    department: Department | None
    co_departments: list[Department] = field(default_factory=list)
    sla_profile: SlaProfile | None = None
    priority: str = "normal"

    @property
    def matched(self) -> bool:
        return self.department is not None


def raise_priority(*priorities: str | None) -> str:
    """The most pressing of the given priorities (unknown values and None count as normal)."""
    known = [p for p in priorities if p in PRIORITY_RANK]
    return max(known, key=PRIORITY_RANK.__getitem__) if known else "normal"


def _area_chain(area: Area | None) -> list[Area]:
    """The area and its ancestors up to (not including) the district: community, street."""
    chain: list[Area] = []
    node = area
    while node is not None and node.level != "district":
        chain.append(node)
        node = node.parent
    return chain


def candidate_keys(category: Category, area: Area | None) -> list[tuple[int, int | None]]:
    """(category_id, area_id) pairs from most to least specific."""
    chain = _area_chain(area)
    levels = [category] if category.is_group else [category, category.group]
    keys: list[tuple[int, int | None]] = []
    for cat in levels:
        keys.extend((cat.id, a.id) for a in chain)
        keys.append((cat.id, None))
    return keys


def route_case(
    session: Session,
    case: Case | None,
    *,
    category: Category,
    area: Area | None,
    urgency: str | None = None,
) -> RoutingDecision:
    """Apply the rules (most specific wins) and the urgency to find department, SLA and priority.

    ``case`` may be None (previews, proposals); when given, its predicted urgency is used unless
    ``urgency`` is passed explicitly.
    """
    if urgency is None and case is not None:
        urgency = case.predicted_urgency
    keys = candidate_keys(category, area)
    category_ids = {k[0] for k in keys}
    rules = (
        session.scalars(
            select(RoutingRule)
            .where(RoutingRule.category_id.in_(category_ids), RoutingRule.active.is_(True))
            .options(
                joinedload(RoutingRule.department),
                joinedload(RoutingRule.sla_profile),
                joinedload(RoutingRule.co_departments),
            )
        )
        .unique()
        .all()
    )  # one round trip: rules with their departments and SLA profiles
    by_key = {(r.category_id, r.area_id): r for r in rules}
    rule = next((by_key[k] for k in keys if k in by_key and by_key[k].department.active), None)
    priority = raise_priority(category.default_priority, urgency)
    sla = rule.sla_profile if rule is not None else _sla(session, DEFAULT_SLA)
    if priority == "emergency":
        sla = _sla(session, EMERGENCY_SLA) or sla
    if rule is None:
        return RoutingDecision(rule=None, department=None, sla_profile=sla, priority=priority)
    lead = rule.department
    co = [d for d in rule.co_departments if d.id != lead.id and d.active]
    return RoutingDecision(
        rule=rule, department=lead, co_departments=co, sla_profile=sla, priority=priority
    )


def _sla(session: Session, code: str) -> SlaProfile | None:
    return session.scalar(select(SlaProfile).where(SlaProfile.code == code))


def compute_due_dates(
    case: Case | None,
    sla_profile: SlaProfile | None,
    priority: str,
    *,
    start: datetime,
    emergency_floor: SlaProfile | None = None,
) -> tuple[datetime | None, datetime | None]:
    """(respond_due_at, due_at) from ``start`` in calendar hours.

    An urgent case gets half its profile's hours, rounded up, never below ``emergency_floor``'s
    hours (1 h / 2 h by default). Without a profile there is no deadline.
    """
    del case  # the signature leaves room for per-case rules (e.g. a resident's chosen date)
    if sla_profile is None:
        return None, None
    respond, resolve = sla_profile.respond_hours, sla_profile.resolve_hours
    if priority == "urgent":
        floor_respond = emergency_floor.respond_hours if emergency_floor else 1
        floor_resolve = emergency_floor.resolve_hours if emergency_floor else 2
        respond = max(math.ceil(respond / 2), min(floor_respond, respond))
        resolve = max(math.ceil(resolve / 2), min(floor_resolve, resolve))
    return start + timedelta(hours=respond), start + timedelta(hours=resolve)
