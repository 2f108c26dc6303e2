"""``flask --app portal escalate-overdue``: heads and coordinators are told once per episode."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from portal.cases.models import Case, CaseEvent, Notification
from portal.db import utcnow
from portal.workbench.escalation import escalate_overdue
from tests.workbench.conftest import People


def test_overdue_cases_are_escalated_once_per_episode(
    session: Any, assigned_case: Case, make_case: Any, people: People, app: Any
) -> None:
    on_time = make_case(text="小区物业费收费标准不清楚，想咨询一下。", category_code="G01-09")
    assigned_case.due_at = utcnow() - timedelta(hours=3)
    on_time.due_at = utcnow() + timedelta(hours=3)
    session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["escalate-overdue"])
    assert first.exit_code == 0, first.output
    assert (
        "escalated 1 overdue case(s)" in first.output
        and assigned_case.tracking_number in first.output
    )
    session.expire_all()
    events = session.scalars(select(CaseEvent).where(CaseEvent.type == "escalated")).all()
    assert [(e.case_id, e.public) for e in events] == [(assigned_case.id, False)]
    recipients = sorted(
        session.scalars(select(Notification.user_id).where(Notification.kind == "escalated")).all()
    )
    assert recipients == sorted([people.head.id, people.coordinator.id])
    assert people.staff.id not in recipients and people.admin.id not in recipients

    second = runner.invoke(args=["escalate-overdue"])
    assert "escalated 0 overdue case(s), 1 already escalated" in second.output
    assert session.scalar(select(CaseEvent).where(CaseEvent.type == "escalated").offset(1)) is None

    # a new deadline that is missed again is a new episode
    assigned_case.due_at = utcnow() - timedelta(minutes=5)
    session.commit()
    summary = escalate_overdue(session)
    session.commit()
    assert summary.escalated == [assigned_case.tracking_number]
    assert len(session.scalars(select(CaseEvent).where(CaseEvent.type == "escalated")).all()) == 2


def test_closed_or_resolved_cases_are_not_escalated(
    session: Any, assigned_case: Case, people: People
) -> None:
    from portal.workbench import services

    services.accept_case(session, case=assigned_case, actor=people.staff)
    services.resolve_case(session, case=assigned_case, actor=people.staff, summary="已经处理完毕。")
    assigned_case.due_at = utcnow() - timedelta(days=1)
    session.commit()
    assert escalate_overdue(session).escalated == []
