"""The routing rules engine: specificity, urgency, SLA hours, no-rule cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from portal.jurisdiction.models import Area, Category, Department, RoutingRule, SlaProfile
from portal.routing.services import compute_due_dates, raise_priority, route_case


def _category(session, code: str) -> Category:
    return session.scalar(select(Category).where(Category.code == code))


def _area(session, code: str) -> Area:
    return session.scalar(select(Area).where(Area.code == code))


def _route(session, category: str, area: str | None = None, urgency: str | None = None):
    return route_case(
        session,
        None,
        category=_category(session, category),
        area=_area(session, area) if area else None,
        urgency=urgency,
    )


#: (category, area, expected lead, expected co-departments)
SPECIFICITY = [
    # category + community beats category + street
    ("G01-02", "LJ-NH-01", "culture_tourism", ["urban_mgmt"]),
    # category + street (a community of the street without its own rule)
    ("G01-02", "LJ-NH-02", "street_nh", ["urban_mgmt"]),
    ("G01-02", "LJ-JB", "street_jb", ["urban_mgmt"]),
    # category, no area
    ("G01-02", None, "urban_mgmt", []),
    # a category without a rule falls back to its group's rule
    ("G01-05", "LJ-JB-01", "housing", []),
    # group + area beats group
    ("G09-01", "LJ-WS-01", "street_ws", ["civil_affairs"]),
    ("G09-01", None, "civil_affairs", []),
    # category (no area) beats group + area
    ("G09-06", "LJ-WS-01", "civil_affairs", []),
    # a group code routes by the group's rules
    ("G02", None, "ecology", []),
]


def test_most_specific_rule_wins(session, jurisdiction) -> None:
    for category, area, lead, co in SPECIFICITY:
        decision = _route(session, category, area)
        where = f"{category}@{area}"
        assert decision.matched, where
        assert decision.department.code == lead, where
        assert sorted(d.code for d in decision.co_departments) == co, where


def test_group_and_community_beats_group_and_street(session, jurisdiction) -> None:
    group = _category(session, "G09")
    community = _area(session, "LJ-WS-02")
    general = session.scalar(select(SlaProfile).where(SlaProfile.code == "general"))
    health = session.scalar(select(Department).where(Department.code == "health"))
    session.add(RoutingRule(category=group, area=community, department=health, sla_profile=general))
    session.commit()
    assert _route(session, "G09-01", "LJ-WS-02").department.code == "health"
    assert _route(session, "G09-01", "LJ-WS-01").department.code == "street_ws"


def test_inactive_rules_and_departments_are_skipped(session, jurisdiction) -> None:
    session.execute(
        update(RoutingRule)
        .where(RoutingRule.area_id == _area(session, "LJ-NH-01").id)
        .values(active=False)
    )
    session.commit()
    assert _route(session, "G01-02", "LJ-NH-01").department.code == "street_nh"
    street_office = session.scalar(select(Department).where(Department.code == "street_nh"))
    street_office.active = False
    session.commit()
    assert _route(session, "G01-02", "LJ-NH-01").department.code == "urban_mgmt"


def test_no_rule_means_no_department(session, jurisdiction) -> None:
    g01 = _category(session, "G01")
    ids = [g01.id] + [c.id for c in g01.children]
    session.execute(
        update(RoutingRule).where(RoutingRule.category_id.in_(ids)).values(active=False)
    )
    session.commit()
    decision = _route(session, "G01-02", "LJ-JB-01")
    assert not decision.matched
    assert decision.department is None and decision.rule is None
    assert decision.sla_profile.code == "general"  # triage still gets a deadline


def test_emergency_uses_the_emergency_profile(session, jurisdiction) -> None:
    decision = _route(session, "G02-01", "LJ-JB-01", urgency="emergency")
    assert decision.priority == "emergency"
    assert decision.sla_profile.code == "emergency"
    assert decision.department.code == "ecology"


def test_category_default_priority_raises_priority(session, jurisdiction) -> None:
    decision = _route(session, "G07-03")  # food safety: urgent by default
    assert decision.priority == "urgent"
    assert _route(session, "G07-03", urgency="emergency").priority == "emergency"
    assert _route(session, "G02-01").priority == "normal"


def test_due_dates_follow_the_profile_and_urgency(session, jurisdiction) -> None:
    profiles = {p.code: p for p in session.scalars(select(SlaProfile))}
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert compute_due_dates(None, profiles["general"], "normal", start=start) == (
        start + timedelta(hours=24),
        start + timedelta(days=7),
    )
    assert compute_due_dates(None, profiles["complex"], "normal", start=start)[
        1
    ] == start + timedelta(days=15)
    assert compute_due_dates(None, profiles["emergency"], "emergency", start=start) == (
        start + timedelta(hours=1),
        start + timedelta(hours=2),
    )
    # urgent: half the hours, never below the emergency profile's
    assert compute_due_dates(None, profiles["general"], "urgent", start=start) == (
        start + timedelta(hours=12),
        start + timedelta(hours=84),
    )
    assert compute_due_dates(
        None, profiles["utilities"], "urgent", start=start, emergency_floor=profiles["emergency"]
    ) == (start + timedelta(hours=1), start + timedelta(hours=12))
    assert compute_due_dates(None, None, "normal", start=start) == (None, None)


def test_raise_priority() -> None:
    assert raise_priority("normal", "urgent") == "urgent"
    assert raise_priority("emergency", "urgent", None) == "emergency"
    assert raise_priority(None, "bogus") == "normal"
