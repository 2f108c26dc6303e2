"""Proposal services: lifecycle, supports and the threshold, routing as a case, answers,
implementation, withdrawal, archiving, per-area terms, verification levels (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.cases.models import Case, Notification
from portal.db import utcnow
from portal.deliberation import answers, overview
from portal.deliberation import lifecycle as lc
from portal.deliberation import services as svc
from portal.deliberation.models import ProposalEvent, Support
from portal.deliberation.participation import (
    issue_verification_codes,
    redeem_verification_code,
)
from portal.errors import InvalidTransition, PermissionDenied, ValidationError
from portal.jurisdiction.services import get_area


def _events(session, proposal) -> list[str]:  # type: ignore[no-untyped-def]
    return list(
        session.scalars(
            select(ProposalEvent.type)
            .where(ProposalEvent.proposal_id == proposal.id)
            .order_by(ProposalEvent.id)
        )
    )


def test_create_masks_personal_data_and_snapshots_terms(session, settings, make_proposal, resident):  # type: ignore[no-untyped-def]
    settings(proposal_support_threshold=7, proposal_support_window_days=10)
    proposal = make_proposal(body="建议增设公交站，有事请联系我13812345678，谢谢大家支持。")
    assert proposal.status == lc.OPEN
    assert "13812345678" not in proposal.body_masked and "13812345678" in proposal.body_raw
    assert proposal.support_threshold == 7
    assert timedelta(days=9, hours=23) < proposal.support_deadline - utcnow() <= timedelta(days=10)
    assert _events(session, proposal) == ["create"]


def test_area_override_most_specific_wins(session, settings, jurisdiction):  # type: ignore[no-untyped-def]
    settings(proposal_support_threshold=50, proposal_support_window_days=60)
    street, community = get_area(session, "LJ-WS"), get_area(session, "LJ-WS-01")
    svc.set_area_participation_rule(
        session, area=street, support_threshold=20, support_window_days=30
    )
    svc.set_area_participation_rule(
        session, area=community, support_threshold=5, support_window_days=None
    )
    assert svc.participation_terms(session, community) == (5, 30)
    assert svc.participation_terms(session, street) == (20, 30)
    assert svc.participation_terms(session, get_area(session, "LJ-NH")) == (50, 60)
    assert svc.participation_terms(session, None) == (50, 60)


def test_validation_messages(session, jurisdiction, resident):  # type: ignore[no-untyped-def]
    author = resident()
    with pytest.raises(ValidationError) as short:
        svc.create_proposal(
            session, author=author, title="公交", body="太短了", category_code="G03-03"
        )
    assert short.value.field == "title"
    with pytest.raises(ValidationError) as long:
        svc.create_proposal(
            session, author=author, title="增设公交站点", body="很" * 6000, category_code="G03-03"
        )
    assert long.value.field == "body" and "6000" in long.value.message
    with pytest.raises(ValidationError) as category:
        svc.create_proposal(
            session,
            author=author,
            title="增设公交站点",
            body="建议增设公交站点方便出行",
            category_code="NOPE",
        )
    assert category.value.field == "category_code"


def test_levels_required_per_action_and_codes_raise_them(
    session, settings, make_proposal, resident
):  # type: ignore[no-untyped-def]
    settings(level_to_create_proposal=1, level_to_support_proposal=2, level_to_comment=0)
    newcomer = resident(level=0)
    with pytest.raises(PermissionDenied) as denied:
        make_proposal(author=newcomer)
    assert denied.value.code == "verification_required"
    proposal = make_proposal()
    with pytest.raises(PermissionDenied):
        svc.support_proposal(session, proposal=proposal, user=newcomer)
    session.rollback()
    [issued] = issue_verification_codes(session, count=1, issued_by="青松社区居委会")
    session.commit()
    redeem_verification_code(
        session, user=newcomer, code=issued.code.lower()[:5] + " " + issued.code[5:]
    )
    session.commit()
    assert newcomer.verification_level == 2
    assert svc.support_proposal(session, proposal=proposal, user=newcomer).created
    other = resident(level=0)
    with pytest.raises(ValidationError):  # a code works once
        redeem_verification_code(session, user=other, code=issued.code)


def test_support_once_withdraw_and_counter_matches_rows(session, settings, make_proposal, resident):  # type: ignore[no-untyped-def]
    settings(proposal_support_threshold=10)
    proposal = make_proposal()
    alice, bob = resident(), resident()
    assert svc.support_proposal(session, proposal=proposal, user=alice).created
    assert not svc.support_proposal(session, proposal=proposal, user=alice).created
    assert svc.support_proposal(session, proposal=proposal, user=bob).created
    session.commit()
    assert proposal.support_count == 2 == svc.supporters_count(session, proposal)
    svc.withdraw_support(session, proposal=proposal, user=alice)
    svc.withdraw_support(session, proposal=proposal, user=alice)  # idempotent
    session.commit()
    assert proposal.support_count == 1 == svc.supporters_count(session, proposal)


def test_threshold_routes_as_case_notifies_and_fires_once(
    session, settings, make_proposal, resident, make_user
):  # type: ignore[no-untyped-def]
    settings(proposal_support_threshold=2)
    author = resident()
    proposal = make_proposal(author=author)
    follower = resident(level=0)
    svc.follow_proposal(session, proposal=proposal, user=follower)
    first, second, third = resident(), resident(), resident()
    assert not svc.support_proposal(session, proposal=proposal, user=first).threshold_fired
    result = svc.support_proposal(session, proposal=proposal, user=second)
    session.commit()
    assert result.threshold_fired
    # Routed with the same rules: G03-03 → transport bureau, with SLA due dates, in its queue.
    case = session.get(Case, proposal.case_id)
    assert case is not None and case.kind == "proposal" and case.status == "assigned"
    assert case.lead_department.code == "transport" and case.due_at is not None
    assert proposal.status == lc.UNDER_REVIEW
    assert _events(session, proposal) == ["create", "reach_threshold", "route"]
    # Supports keep counting after the threshold, but it never fires again.
    assert not svc.support_proposal(session, proposal=proposal, user=third).threshold_fired
    session.commit()
    assert proposal.support_count == 3
    assert _events(session, proposal).count("reach_threshold") == 1
    notified = set(
        session.scalars(
            select(Notification.user_id).where(
                Notification.payload["event"].as_string() == "proposal_threshold_reached"
            )
        )
    )
    assert notified == {author.id, follower.id, first.id, second.id}
    # Withdrawing support is possible only while open.
    with pytest.raises(InvalidTransition):
        svc.withdraw_support(session, proposal=proposal, user=first)


def test_answer_by_the_department_then_implementation(
    session, settings, make_proposal, resident, make_user
):  # type: ignore[no-untyped-def]
    settings(proposal_support_threshold=1)
    author = resident()
    proposal = make_proposal(author=author)
    svc.support_proposal(session, proposal=proposal, user=resident())
    session.commit()
    outsider = make_user(role="staff", department="housing")
    clerk = make_user(role="staff", department="transport")
    with pytest.raises(PermissionDenied):
        answers.answer_proposal(
            session,
            proposal=proposal,
            actor=outsider,
            outcome="accepted",
            answer="同意增设站点，已列入计划。",
            reasons="客流充足",
        )
    with pytest.raises(ValidationError) as no_reasons:
        answers.answer_proposal(
            session,
            proposal=proposal,
            actor=clerk,
            outcome="partly_accepted",
            answer="同意增设站点，已列入计划。",
            reasons="",
        )
    assert no_reasons.value.field == "reasons"
    answers.answer_proposal(
        session,
        proposal=proposal,
        actor=clerk,
        outcome="partly_accepted",
        answer="同意在东门增设临时站点，正式站点需规划论证。",
        reasons="道路宽度不足以设港湾式车站",
    )
    session.commit()
    assert proposal.status == lc.ANSWERED and proposal.answer_outcome == "partly_accepted"
    case = session.get(Case, proposal.case_id)
    assert case.status == "resolved"  # the workbench case is resolved with the answer
    assert any(
        n.kind == "verdict_request" and n.user_id == author.id
        for n in session.scalars(select(Notification))
    )
    answers.start_implementation(session, proposal=proposal, actor=clerk, plan="年底前设临时站点")
    answers.record_progress(
        session, proposal=proposal, actor=clerk, progress=40, milestone="站牌已采购"
    )
    with pytest.raises(ValidationError):
        answers.record_progress(
            session, proposal=proposal, actor=clerk, progress=30, milestone="倒退"
        )
    answers.record_progress(
        session, proposal=proposal, actor=clerk, progress=100, milestone="站点启用"
    )
    session.commit()
    assert proposal.status == lc.DONE and proposal.progress == 100
    assert [m.progress for m in proposal.milestones] == [40, 100]
    detail = overview.proposal_detail(session, proposal)
    assert detail["answer"]["reasons"] == "道路宽度不足以设港湾式车站"
    assert detail["department"]["code"] == "transport"


def test_rejected_is_not_implemented(session, settings, make_proposal, resident, make_user):  # type: ignore[no-untyped-def]
    settings(proposal_support_threshold=1)
    proposal = make_proposal()
    svc.support_proposal(session, proposal=proposal, user=resident())
    clerk = make_user(role="staff", department="transport")
    answers.answer_proposal(
        session,
        proposal=proposal,
        actor=clerk,
        outcome="rejected",
        answer="该路段已有两条线路覆盖。",
        reasons="三百米内已有站点",
    )
    with pytest.raises(InvalidTransition):
        answers.start_implementation(session, proposal=proposal, actor=clerk, plan="不实施")


def test_unrouted_proposal_moves_to_review_when_dispatched(
    session, settings, make_proposal, resident, make_user
):  # type: ignore[no-untyped-def]
    """No rule for the category → the case waits in triage; the answer form syncs once dispatched."""
    from portal.jurisdiction.models import RoutingRule
    from portal.workbench.triage import dispatch_case

    for rule in session.scalars(select(RoutingRule)):
        rule.active = False
    session.commit()
    settings(proposal_support_threshold=1)
    proposal = make_proposal()
    svc.support_proposal(session, proposal=proposal, user=resident())
    session.commit()
    assert proposal.status == lc.THRESHOLD_REACHED and proposal.case.status == "triage"
    coordinator = make_user(role="coordinator")
    dispatch_case(
        session,
        case=proposal.case,
        actor=coordinator,
        category_code="G03-03",
        department_code="transport",
    )
    session.commit()
    assert svc.sync_review_status(session, proposal)
    assert proposal.status == lc.UNDER_REVIEW


def test_withdraw_and_archive_with_public_reason(session, settings, make_proposal, resident):  # type: ignore[no-untyped-def]
    settings(proposal_support_threshold=5)
    author = resident()
    withdrawn = make_proposal(author=author)
    with pytest.raises(PermissionDenied):
        svc.withdraw_proposal(session, proposal=withdrawn, user=resident(), reason="不是我的")
    svc.withdraw_proposal(session, proposal=withdrawn, user=author, reason="已与物业协商解决")
    expiring = make_proposal()
    svc.support_proposal(session, proposal=expiring, user=resident())
    session.commit()
    later = expiring.support_deadline + timedelta(seconds=1)
    archived = svc.archive_expired_proposals(session, now=later)
    session.commit()
    assert [p.id for p in archived] == [expiring.id]
    reason = overview.closed_reason(expiring)
    assert expiring.status == lc.ARCHIVED and "1" in reason and "5" in reason
    # Stored as a code with its numbers, not as text in the server's language.
    assert expiring.closed_reason is None
    assert expiring.events[-1].data["message"] == {
        "code": "proposal_archived",
        "args": {"date": expiring.support_deadline.date().isoformat(), "n": 1, "needed": 5},
    }
    assert svc.archive_expired_proposals(session, now=later) == []  # idempotent
    assert withdrawn.status == lc.WITHDRAWN and withdrawn.closed_reason == "已与物业协商解决"
    with pytest.raises(InvalidTransition):
        svc.support_proposal(session, proposal=expiring, user=resident())


def test_support_after_window_is_refused(session, settings, make_proposal, resident):  # type: ignore[no-untyped-def]
    proposal = make_proposal()
    proposal.support_deadline = utcnow() - timedelta(minutes=1)
    session.commit()
    with pytest.raises(InvalidTransition) as ended:
        svc.support_proposal(session, proposal=proposal, user=resident())
    assert ended.value.code == "window_ended"
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Support)) == 0


def test_turn_own_complaint_into_proposal(session, make_case, resident, make_user):  # type: ignore[no-untyped-def]
    me = resident()
    case = make_case(
        text="小区门口没有公交站，老人出门很不方便，建议增设一个站点。",
        submitter=me,
        area_code="LJ-WS-01",
    )
    with pytest.raises(PermissionDenied):
        svc.proposal_from_case(session, case=case, user=resident())
    proposal = svc.proposal_from_case(session, case=case, user=me)
    session.commit()
    assert proposal.source_case_id == case.id and proposal.area.code == "LJ-WS-01"
    with pytest.raises(ValidationError):
        svc.proposal_from_case(session, case=case, user=me)


def test_list_near_a_point_and_in_an_area(session, make_proposal):  # type: ignore[no-untyped-def]
    near = make_proposal(title="青松社区增设公交站", area_code="LJ-WS-01")
    far = make_proposal(title="南湖社区增加路灯", area_code="LJ-NH-02")
    page = svc.list_proposals(session, lat=28.241, lon=112.931, radius_m=2000, sort="nearest")
    assert [i.proposal.id for i in page.items] == [near.id] and page.items[0].distance_m < 2000
    assert {i.proposal.id for i in svc.list_proposals(session, area_code="LJ-NH").items} == {far.id}
    everything = svc.list_proposals(session, per_page=1)
    assert everything.total == 2 and everything.pages == 2 and len(everything.items) == 1
    with pytest.raises(ValidationError):
        svc.list_proposals(session, lat=28.2)
