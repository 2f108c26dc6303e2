"""A department head's figures, computed from hand-built event histories in the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal.cases.models import Case, CaseEvent
from portal.jurisdiction.models import Department
from portal.workbench.models import Verdict
from portal.workbench.queues import department_figures
from tests.workbench.conftest import People

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _history(
    session: Any, case: Case, steps: list[tuple[str, float, str | None, int | None]]
) -> None:
    """Replace the case's events with ``(type, hours after T0, to_status, department_id)``."""
    for event in list(case.events):
        session.delete(event)
    session.flush()
    for type_, hours, to_status, department_id in steps:
        session.add(
            CaseEvent(
                case_id=case.id,
                type=type_,
                created_at=T0 + timedelta(hours=hours),
                to_status=to_status,
                department_id=department_id,
                actor_role="system",
                data={},
            )
        )


def test_figures_from_hand_built_histories(session: Any, make_case: Any, people: People) -> None:
    housing = people.staff.department_id
    ecology = people.other_staff.department_id
    text = "小区物业不作为，楼道垃圾长期无人清理。"
    a, b, c, d, e = (make_case(text=f"{text}{i}", category_code="G01-09") for i in range(5))
    # a: dispatched at 0, accepted at 2 h, resolved at 26 h, rated 5
    _history(
        session,
        a,
        [
            ("submit", 0, "triage", None),
            ("dispatch", 0, "assigned", housing),
            ("accept", 2, "accepted", housing),
            ("resolve", 26, "resolved", housing),
        ],
    )
    # b: submitted straight to housing, accepted at 4 h, still open and overdue
    _history(session, b, [("submit", 0, "assigned", housing), ("accept", 4, "accepted", housing)])
    # c: housing returns it as not ours
    _history(session, c, [("submit", 0, "assigned", housing), ("return", 1, "triage", housing)])
    # d: housing transfers it to ecology, which accepts 6 h later
    _history(
        session,
        d,
        [
            ("submit", 0, "assigned", housing),
            ("transfer", 1, "assigned", housing),
            ("accept", 7, "accepted", ecology),
        ],
    )
    # e: reopened: second round accepted 1 h after the reopen, resolved 11 h after it
    _history(
        session,
        e,
        [
            ("submit", 0, "assigned", housing),
            ("accept", 6, "accepted", housing),
            ("resolve", 30, "resolved", housing),
            ("reopen", 40, "assigned", housing),
            ("accept", 41, "accepted", housing),
            ("resolve", 51, "resolved", housing),
        ],
    )
    now = datetime.now(UTC)
    a.status, b.status, e.status = "resolved", "accepted", "resolved"
    b.due_at = now - timedelta(hours=1)
    c.status, c.lead_department_id = "triage", None
    d.status, d.lead_department = "accepted", session.get(Department, ecology)
    session.add_all(
        [
            Verdict(
                case_id=a.id,
                round=1,
                outcome="resolved",
                resolved=True,
                satisfaction=5,
                channel="web",
            ),
            Verdict(
                case_id=e.id,
                round=1,
                outcome="not_resolved",
                resolved=False,
                satisfaction=2,
                channel="web",
            ),
            Verdict(
                case_id=e.id,
                round=2,
                outcome="resolved",
                resolved=True,
                satisfaction=3,
                channel="web",
            ),
        ]
    )
    session.commit()

    figures = department_figures(session, department_id=housing, now=now)
    assert (figures.open, figures.overdue) == (1, 1)
    assert [c_.id for c_ in figures.overdue_cases] == [b.id]
    # accepts by housing: a 2 h, b 4 h, e 6 h and 1 h  → 13 / 4
    assert figures.accepted_count == 4 and figures.avg_hours_to_accept == pytest.approx(13 / 4)
    # resolves by housing: a 26 h, e 30 h and 11 h → 67 / 3
    assert figures.resolved_count == 3 and figures.avg_hours_to_resolve == pytest.approx(67 / 3)
    assert (figures.returned, figures.transferred_out) == (1, 1)
    assert (figures.rates["resolution"].numerator, figures.rates["resolution"].denominator) == (
        2,
        2,
    )
    assert (figures.rates["satisfaction"].numerator, figures.rates["satisfaction"].denominator) == (
        1,
        2,
    )
    assert figures.average_satisfaction == pytest.approx(4)

    eco = department_figures(session, department_id=ecology, now=now)
    assert (eco.open, eco.accepted_count, eco.avg_hours_to_accept, eco.returned) == (1, 1, 6, 0)
    recent = department_figures(
        session, department_id=housing, since=T0 + timedelta(hours=35), now=now
    )
    assert (recent.accepted_count, recent.resolved_count) == (1, 1)
    assert session.scalar(select(Case).where(Case.id == c.id)).lead_department_id is None
