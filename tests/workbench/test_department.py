"""The department's side: queue filters and counts, replies, contact, co-handling, transfers
(with and without approval), resolving, response templates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal.cases.models import Case, CaseEvent, Notification
from portal.db import utcnow
from portal.errors import Conflict, PermissionDenied, ValidationError
from portal.jurisdiction.models import Category, Setting
from portal.workbench import queues, services
from portal.workbench.models import ResponseTemplate, TransferRequest
from tests.workbench.conftest import HOUSING_CATEGORY, HOUSING_TEXT, LEAD, OTHER, People


def _ids(page: Any) -> list[int]:
    return [c.id for c in page.items]


def test_queue_filters_counts_and_sorting(session: Any, make_case: Any, people: People) -> None:
    dept = people.staff.department_id
    soon = make_case(text=HOUSING_TEXT, category_code=HOUSING_CATEGORY, area_code="LJ-JB-01")
    later = make_case(
        text="小区物业费上涨没有公示，物业公司拒绝解释收费标准。", category_code=HOUSING_CATEGORY
    )
    late = make_case(
        text="公租房申请材料交了两个月没有任何回复，请帮忙查询。", category_code=HOUSING_CATEGORY
    )
    elsewhere = make_case(text="河边工厂晚上偷排污水，气味很大。", category_code="G02-02")
    now = utcnow()
    soon.due_at, later.due_at, late.due_at = (
        now + timedelta(hours=5),
        now + timedelta(days=3),
        now - timedelta(hours=2),
    )
    later.priority = "urgent"
    session.commit()
    services.accept_case(session, case=later, actor=people.staff)
    session.commit()

    page = queues.department_queue(session, department_id=dept)
    assert _ids(page) == [late.id, soon.id, later.id]  # by due date, overdue first
    assert elsewhere.id not in _ids(page)
    assert _ids(
        queues.department_queue(
            session, department_id=dept, filters=queues.QueueFilters(overdue=True)
        )
    ) == [late.id]
    assert _ids(
        queues.department_queue(
            session, department_id=dept, filters=queues.QueueFilters(status="accepted")
        )
    ) == [later.id]
    assert _ids(
        queues.department_queue(
            session, department_id=dept, filters=queues.QueueFilters(urgency="urgent")
        )
    ) == [later.id]
    assert _ids(
        queues.department_queue(
            session, department_id=dept, filters=queues.QueueFilters(street="LJ-JB")
        )
    ) == [soon.id]
    assert _ids(
        queues.department_queue(
            session, department_id=dept, filters=queues.QueueFilters(category="G01")
        )
    ) == [late.id, soon.id, later.id]
    assert (
        _ids(
            queues.department_queue(
                session, department_id=dept, filters=queues.QueueFilters(category="G02-02")
            )
        )
        == []
    )
    assert _ids(
        queues.department_queue(
            session, department_id=dept, filters=queues.QueueFilters(sort="newest")
        )
    ) == [late.id, later.id, soon.id]
    second = queues.department_queue(session, department_id=dept, page=2, per_page=2)
    assert (second.total, second.pages, _ids(second)) == (3, 2, [later.id])
    counts = queues.status_counts(session, department_id=dept)
    assert counts == {"assigned": 2, "accepted": 1, "resolved": 0, "closed": 0, "overdue": 1}


def test_public_reply_is_masked_and_notified_internal_note_is_not(
    session: Any, assigned_case: Case, people: People
) -> None:
    case = assigned_case
    services.accept_case(session, case=case, actor=people.staff)
    services.add_reply(
        session,
        case=case,
        actor=people.staff,
        body="请联系经办人13912345678了解进度。",
        public=True,
    )
    services.add_reply(
        session, case=case, actor=people.staff, body="内部：物业负责人电话13912345678", public=False
    )
    session.commit()
    reply, note = case.events[-2:]
    assert reply.type == "reply" and reply.public and "13912345678" not in reply.note
    assert note.type == "note" and not note.public and "13912345678" in note.note
    kinds = session.scalars(
        select(Notification.kind).where(Notification.user_id == people.resident.id)
    ).all()
    assert "reply" in kinds
    assert session.scalar(select(Notification).where(Notification.event_id == note.id)) is None
    with pytest.raises(ValidationError):
        services.add_reply(session, case=case, actor=people.staff, body="   ", public=True)


def test_contact_is_internal_and_stamps_the_first_contact(
    session: Any, assigned_case: Case, people: People
) -> None:
    services.accept_case(session, case=assigned_case, actor=people.staff)
    with pytest.raises(ValidationError) as error:
        services.record_contact(
            session, case=assigned_case, actor=people.staff, method="fax", note="x"
        )
    assert error.value.field == "method"
    services.record_contact(
        session, case=assigned_case, actor=people.staff, method="phone", note="已电话沟通。"
    )
    session.commit()
    first = assigned_case.contacted_at
    services.record_contact(
        session, case=assigned_case, actor=people.head, method="visit", note="已上门。"
    )
    session.commit()
    assert assigned_case.contacted_at == first
    contacts = [e for e in assigned_case.events if e.type == "contact"]
    assert [e.data["method"] for e in contacts] == ["phone", "visit"]
    assert not any(e.public for e in contacts)
    # each event is attributed to its author in the role they acted in
    assert [(e.actor_id, e.actor_role) for e in contacts] == [
        (people.staff.id, str(people.staff.role)),
        (people.head.id, str(people.head.role)),
    ]
    accepted = next(e for e in assigned_case.events if e.type == "accept")
    assert (accepted.actor_id, accepted.actor_role) == (people.staff.id, str(people.staff.role))


def test_co_handling_shows_in_the_co_department_queue_until_done(
    session: Any, assigned_case: Case, people: People
) -> None:
    case = assigned_case
    services.accept_case(session, case=case, actor=people.staff)
    services.request_co_handling(
        session, case=case, actor=people.staff, department_code=OTHER, note="请协助检测异味来源。"
    )
    session.commit()
    other = people.other_staff.department_id
    assert _ids(queues.department_queue(session, department_id=other)) == [case.id]
    with pytest.raises(ValidationError):  # already co-handling
        services.request_co_handling(
            session, case=case, actor=people.staff, department_code=OTHER, note="再次请求协助。"
        )
    session.rollback()
    with pytest.raises(ValidationError):  # the lead cannot co-handle its own case
        services.request_co_handling(
            session, case=case, actor=people.staff, department_code=LEAD, note="自己协助自己。"
        )
    session.rollback()
    services.complete_co_task(
        session, case=case, actor=people.other_staff, note="已检测，超标，已处罚。"
    )
    session.commit()
    task = next(t for t in case.tasks if t.role == "co")
    assert task.status == "done" and task.done_at is not None
    assert [e.type for e in case.events][-2:] == ["co_handle_requested", "co_handle_done"]
    assert _ids(queues.department_queue(session, department_id=other)) == []
    with pytest.raises(PermissionDenied):  # its part is done: nothing left to do on the case
        services.complete_co_task(session, case=case, actor=people.other_staff, note="again")
    session.rollback()


def test_transfer_waits_for_a_coordinator_when_configured(
    session: Any, assigned_case: Case, people: People
) -> None:
    case = assigned_case
    request = services.transfer_case(
        session, case=case, actor=people.staff, department_code=OTHER, reason="主要是污染问题。"
    )
    session.commit()
    assert request is not None and request.status == "pending"
    assert case.status == "assigned" and case.lead_department.code == LEAD
    assert case.events[-1].type == "transfer_requested" and not case.events[-1].public
    with pytest.raises(Conflict):
        services.transfer_case(
            session, case=case, actor=people.head, department_code=OTHER, reason="再次申请转办。"
        )
    session.rollback()
    assert queues.pending_transfers(session).total == 1
    with pytest.raises(ValidationError):  # a rejection needs a reason
        services.decide_transfer(session, request=request, actor=people.coordinator, approve=False)
    session.rollback()
    services.decide_transfer(session, request=request, actor=people.coordinator, approve=True)
    session.commit()
    assert case.status == "assigned" and case.lead_department.code == OTHER
    assert sorted((t.department.code, t.role, t.status) for t in case.tasks) == [
        (OTHER, "lead", "open"),
        (LEAD, "lead", "withdrawn"),
    ]
    transfer = case.events[-1]
    assert transfer.type == "transfer" and transfer.department.code == LEAD
    assert transfer.data["department_code"] == OTHER and transfer.data["request_id"] == request.id
    with pytest.raises(Conflict):
        services.decide_transfer(
            session, request=request, actor=people.coordinator, approve=False, note="太晚了。"
        )
    session.rollback()


def test_rejected_transfer_keeps_the_case(
    session: Any, assigned_case: Case, people: People
) -> None:
    request = services.transfer_case(
        session,
        case=assigned_case,
        actor=people.staff,
        department_code=OTHER,
        reason="不是我们的。",
    )
    services.decide_transfer(
        session, request=request, actor=people.admin, approve=False, note="按规则属于住建局。"
    )
    session.commit()
    assert request.status == "rejected" and request.decided_by_id == people.admin.id
    assert assigned_case.lead_department.code == LEAD
    assert assigned_case.events[-1].type == "transfer_rejected"
    assert (
        session.scalars(select(TransferRequest).where(TransferRequest.status == "pending")).all()
        == []
    )


def test_transfer_is_direct_without_approval_or_by_a_coordinator(
    session: Any, assigned_case: Case, people: People
) -> None:
    setting = session.get(Setting, "transfer_needs_approval") or Setting(
        key="transfer_needs_approval"
    )
    setting.value = False
    session.add(setting)
    session.commit()
    assert (
        services.transfer_case(
            session,
            case=assigned_case,
            actor=people.staff,
            department_code=OTHER,
            reason="主要是污染问题。",
        )
        is None
    )
    session.commit()
    assert assigned_case.lead_department.code == OTHER
    services.transfer_case(
        session,
        case=assigned_case,
        actor=people.coordinator,
        department_code=LEAD,
        reason="按规则退回住建局。",
    )
    session.commit()
    assert assigned_case.lead_department.code == LEAD
    assert [e.type for e in assigned_case.events].count("transfer") == 2
    with pytest.raises(ValidationError):
        services.transfer_case(
            session,
            case=assigned_case,
            actor=people.coordinator,
            department_code=LEAD,
            reason="同一部门。",
        )


def test_resolve_needs_a_public_summary_and_asks_for_a_verdict(
    session: Any, assigned_case: Case, people: People
) -> None:
    services.accept_case(session, case=assigned_case, actor=people.staff)
    session.commit()
    with pytest.raises(ValidationError) as error:
        services.resolve_case(session, case=assigned_case, actor=people.staff, summary="")
    assert error.value.field == "summary"
    session.rollback()
    services.resolve_case(
        session, case=assigned_case, actor=people.staff, summary="已督促物业清理楼道。"
    )
    session.commit()
    assert assigned_case.status == "resolved" and assigned_case.resolved_at is not None
    event = assigned_case.events[-1]
    assert event.public and event.note == "已督促物业清理楼道。"
    kinds = session.scalars(
        select(Notification.kind).where(
            Notification.user_id == people.resident.id, Notification.event_id == event.id
        )
    ).all()
    assert sorted(kinds) == ["status_changed", "verdict_request"]
    assert next(t for t in assigned_case.tasks if t.role == "lead").status == "done"


def test_response_templates_for_the_category_then_group_then_general(
    session: Any, assigned_case: Case, people: People
) -> None:
    category = assigned_case.category
    group = session.scalar(select(Category).where(Category.code == "G01"))
    other = session.scalar(select(Category).where(Category.code == "G02"))
    specific = ResponseTemplate(
        category=category,
        title="物业督办",
        body="您反映的{category}问题（{tracking_number}）已由{department}督促物业整改。{unknown}",
    )
    grouped = ResponseTemplate(category=group, title="城建通用", body="已受理。")
    general = ResponseTemplate(category=None, title="通用", body="感谢反映，{date}已处理。")
    session.add_all(
        [
            specific,
            grouped,
            general,
            ResponseTemplate(category=other, title="环保", body="x"),
            ResponseTemplate(category=category, title="停用", body="y", active=False),
        ]
    )
    session.commit()
    assert services.templates_for_case(session, assigned_case) == [specific, grouped, general]
    text = services.render_response_template(specific, assigned_case)
    assert text == (
        f"您反映的住房保障与房地产问题（{assigned_case.tracking_number}）已由区住房和城乡建设局督促物业整改。{{unknown}}"
    )
    assert services.get_response_template(session, assigned_case, general.id) is general
    from portal.errors import NotFound

    with pytest.raises(NotFound):
        services.get_response_template(session, assigned_case, 99999)


def test_every_action_is_one_event_in_order(
    session: Any, assigned_case: Case, people: People
) -> None:
    case = assigned_case
    services.accept_case(session, case=case, actor=people.staff)
    services.record_contact(session, case=case, actor=people.staff, method="phone", note="已联系。")
    services.resolve_case(session, case=case, actor=people.staff, summary="已经处理完毕。")
    session.commit()
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    ).all()
    assert [(e.type, e.to_status) for e in events] == [
        ("submit", "assigned"),
        ("accept", "accepted"),
        ("contact", None),
        ("resolve", "resolved"),
    ]
    assert all(e.department_id == people.staff.department_id for e in events[1:])
