"""The resident's verdict (回访): who may give it, when, what it does; closing unrated cases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal.cases.models import Case
from portal.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
from portal.workbench import services, verdicts
from portal.workbench.models import Verdict
from tests.workbench.conftest import LEAD, People


@pytest.fixture
def resolved_case(session: Any, assigned_case: Case, people: People) -> Case:
    services.accept_case(session, case=assigned_case, actor=people.staff)
    services.resolve_case(
        session, case=assigned_case, actor=people.staff, summary="已督促物业清理。"
    )
    session.commit()
    return assigned_case


def test_resolved_closes_the_case(session: Any, resolved_case: Case, people: People) -> None:
    assert verdicts.awaiting_verdict(session, resolved_case, people.resident)
    verdict = verdicts.record_verdict(
        session,
        case=resolved_case,
        user=people.resident,
        resolved=True,
        satisfaction=5,
        comment="处理得很及时，谢谢！",
        channel="telegram",
    )
    session.commit()
    assert resolved_case.status == "closed" and resolved_case.closed_at is not None
    assert (verdict.round, verdict.outcome, verdict.satisfaction, verdict.channel) == (
        1,
        "resolved",
        5,
        "telegram",
    )
    assert verdict.case_resolved_at == resolved_case.resolved_at
    types = [e.type for e in resolved_case.events]
    assert types[-2:] == ["verdict", "close"]
    assert resolved_case.events[-1].data["outcome"] == "resolved"
    assert not verdicts.awaiting_verdict(session, resolved_case, people.resident)


def test_not_resolved_reopens_to_the_same_department_with_the_comment(
    session: Any, resolved_case: Case, people: People
) -> None:
    old_due = resolved_case.due_at
    verdicts.record_verdict(
        session,
        case=resolved_case,
        user=people.resident,
        resolved=False,
        satisfaction=1,
        comment="楼道还是很脏，电话13912345678没人接。",
    )
    session.commit()
    case = resolved_case
    assert case.status == "assigned" and case.lead_department.code == LEAD
    reopen = case.events[-1]
    assert reopen.type == "reopen" and reopen.public and reopen.department.code == LEAD
    assert "楼道还是很脏" in reopen.note and "13912345678" not in reopen.note
    assert case.due_at is not None and case.due_at > old_due  # a fresh deadline for the new round
    assert next(t for t in case.tasks if t.role == "lead").status == "open"
    # the department works it again; the second resolution gets a second verdict round
    services.accept_case(session, case=case, actor=people.staff)
    services.resolve_case(
        session, case=case, actor=people.staff, summary="已再次清理并安排每日保洁。"
    )
    session.commit()
    second = verdicts.record_verdict(
        session, case=case, user=people.resident, resolved=True, satisfaction=4
    )
    session.commit()
    assert second.round == 2 and case.status == "closed"
    rounds = session.scalars(
        select(Verdict.round).where(Verdict.case_id == case.id).order_by(Verdict.round)
    ).all()
    assert rounds == [1, 2]


def test_only_the_submitter_may_rate(session: Any, resolved_case: Case, people: People) -> None:
    for who in ("stranger", "staff", "head", "coordinator", "moderator", "admin"):
        with pytest.raises(PermissionDenied):
            verdicts.record_verdict(
                session, case=resolved_case, user=people.by_role(who), resolved=True, satisfaction=5
            )
    assert resolved_case.status == "resolved"


def test_only_while_resolved_and_once(session: Any, assigned_case: Case, people: People) -> None:
    with pytest.raises(InvalidTransition):
        verdicts.record_verdict(
            session, case=assigned_case, user=people.resident, resolved=True, satisfaction=5
        )
    session.rollback()
    services.accept_case(session, case=assigned_case, actor=people.staff)
    services.resolve_case(session, case=assigned_case, actor=people.staff, summary="已处理完毕。")
    session.commit()
    session.add(
        Verdict(case=assigned_case, round=1, outcome="resolved", resolved=True, channel="web")
    )
    session.flush()
    with pytest.raises(Conflict):  # this resolution already has its verdict
        verdicts.record_verdict(
            session, case=assigned_case, user=people.resident, resolved=True, satisfaction=5
        )
    session.rollback()


def test_satisfaction_must_be_one_to_five(
    session: Any, resolved_case: Case, people: People
) -> None:
    for score in (0, 6, "five", True, 2.5, -1):
        with pytest.raises(ValidationError) as error:
            verdicts.record_verdict(
                session, case=resolved_case, user=people.resident, resolved=True, satisfaction=score
            )
        assert error.value.field == "satisfaction", score
    assert session.scalars(select(Verdict)).all() == []


def test_satisfaction_is_optional_and_comment_bounded(
    session: Any, resolved_case: Case, people: People
) -> None:
    with pytest.raises(ValidationError) as error:
        verdicts.record_verdict(
            session, case=resolved_case, user=people.resident, resolved=True, comment="很" * 2001
        )
    assert error.value.field == "comment"
    verdict = verdicts.record_verdict(
        session, case=resolved_case, user=people.resident, resolved=True
    )
    assert verdict.satisfaction is None


def test_close_unrated_after_verdict_days_is_idempotent(
    session: Any, resolved_case: Case, make_case: Any, people: People, app: Any
) -> None:
    fresh = make_case(text="小区电梯经常故障，物业维修不及时。", category_code="G01-09")
    services.accept_case(session, case=fresh, actor=people.staff)
    services.resolve_case(session, case=fresh, actor=people.staff, summary="已修好电梯。")
    resolved_case.resolved_at = resolved_case.resolved_at - timedelta(days=8)  # verdict_days is 7
    session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["close-unrated"])
    assert result.exit_code == 0, result.output
    assert (
        "closed 1 unrated case(s)" in result.output
        and resolved_case.tracking_number in result.output
    )
    session.expire_all()
    assert resolved_case.status == "closed" and fresh.status == "resolved"
    verdict = session.scalars(select(Verdict)).one()
    assert (verdict.case_id, verdict.outcome, verdict.resolved, verdict.user_id) == (
        resolved_case.id,
        "unrated",
        None,
        None,
    )
    assert resolved_case.events[-1].data["outcome"] == "unrated"
    again = runner.invoke(args=["close-unrated"])
    assert "closed 0 unrated case(s)" in again.output
    assert len(session.scalars(select(Verdict)).all()) == 1
    # an explicit shorter window closes the fresh one too
    assert "closed 1" in runner.invoke(args=["close-unrated", "--days", "0"]).output
