"""A routed proposal's case is closed by the department's formal answer and by nothing else:
the workbench refuses to resolve or close it without that answer (service, web, CSRF), answering
resolves it, and transfer, return and reopening keep the proposal and the case consistent
(SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.cases.models import Case, CaseEvent
from portal.deliberation import answers
from portal.deliberation import lifecycle as lc
from portal.deliberation import services as svc
from portal.deliberation.models import Proposal, ProposalEvent
from portal.errors import InvalidTransition, PermissionDenied
from portal.system_messages import event_note
from portal.workbench import services as wb
from portal.workbench.triage import close_invalid, dispatch_case
from portal.workbench.verdicts import record_verdict
from tests.deliberation.conftest import PROPOSAL_TEXT
from tests.factories import load_demo_jurisdiction
from tests.workbench.conftest import login

ANSWER = "同意在东门增设临时停靠站，正式站点纳入明年规划。"
REASONS = "东门路宽不足以设港湾式车站"


@pytest.fixture
def routed(session, settings, make_proposal, resident):  # type: ignore[no-untyped-def]
    """A proposal past its threshold (1 support), routed to the transport bureau: under review,
    its case assigned there."""
    settings(proposal_support_threshold=1)
    proposal = make_proposal(author=resident())
    svc.support_proposal(session, proposal=proposal, user=resident())
    session.commit()
    assert proposal.status == lc.UNDER_REVIEW and proposal.case.status == "assigned"
    assert proposal.case.lead_department.code == "transport"
    return proposal


def _resolve_events(session: Any, case: Case) -> int:
    return session.scalar(
        select(func.count(CaseEvent.id)).where(
            CaseEvent.case_id == case.id, CaseEvent.type == "resolve"
        )
    )


def _answer(session: Any, proposal: Proposal, clerk: Any, **kwargs: Any) -> Proposal:
    kwargs.setdefault("outcome", "partly_accepted")
    kwargs.setdefault("answer", ANSWER)
    kwargs.setdefault("reasons", REASONS)
    return answers.answer_proposal(session, proposal=proposal, actor=clerk, **kwargs)


# --- services ---------------------------------------------------------------------------------


def test_workbench_resolve_is_refused_until_the_answer_resolves_the_case(
    session, routed, make_user
):  # type: ignore[no-untyped-def]
    proposal, case = routed, routed.case
    clerk = make_user(role="staff", department="transport")
    assert lc.proposal_awaiting_answer(session, case.id) is proposal
    wb.accept_case(session, case=case, actor=clerk)  # taking it on is fine
    session.commit()
    with pytest.raises(InvalidTransition) as refused:
        wb.resolve_case(session, case=case, actor=clerk, summary="已处理，谢谢关注。")
    session.rollback()
    assert refused.value.code == "answer_required" and refused.value.message
    session.expire_all()
    assert case.status == "accepted" and _resolve_events(session, case) == 0
    assert proposal.status == lc.UNDER_REVIEW and proposal.answer_outcome is None

    _answer(session, proposal, clerk)
    session.commit()
    session.expire_all()
    assert proposal.status == lc.ANSWERED and proposal.answer_outcome == "partly_accepted"
    assert case.status == "resolved" and _resolve_events(session, case) == 1
    resolve = case.events[-1]
    assert resolve.type == "resolve" and resolve.public
    outcome = lc.outcome_label("partly_accepted")
    shown = event_note(resolve)  # the department's words framed in the reader's language
    assert shown.startswith(f"{outcome}: {ANSWER}") and REASONS in shown
    assert resolve.data["message"]["code"] == "proposal_answer_summary"
    assert outcome not in resolve.note and ANSWER in resolve.note  # stored: their words only
    assert all(t.status == "done" for t in case.tasks if t.role == "lead")
    assert lc.proposal_awaiting_answer(session, case.id) is None
    # The proposal's history: answered once; the case: accepted once, resolved once.
    types = list(
        session.scalars(select(ProposalEvent.type).where(ProposalEvent.proposal_id == proposal.id))
    )
    assert types.count("answer") == 1
    assert [e.type for e in case.events].count("accept") == 1


def test_answer_from_assigned_accepts_then_resolves(session, routed, make_user):  # type: ignore[no-untyped-def]
    clerk = make_user(role="staff", department="transport")
    _answer(session, routed, clerk, outcome="rejected")
    session.commit()
    types = [e.type for e in routed.case.events]
    assert types[-2:] == ["accept", "resolve"] and routed.case.status == "resolved"


def test_long_answer_fits_the_case_note(session, routed, make_user):  # type: ignore[no-untyped-def]
    """The case note holds at most 4000 characters: a full-length answer is shortened there (the
    proposal keeps all of it) instead of failing on a "summary" field the clerk never saw."""
    clerk = make_user(role="staff", department="transport")
    long_answer = "同意增设站点。" * 570  # 3990 characters
    _answer(session, routed, clerk, answer=long_answer)
    session.commit()
    note = routed.case.events[-1].note
    assert routed.case.status == "resolved" and len(note) <= 4000 and note.endswith("…")
    shown = event_note(routed.case.events[-1])
    assert len(shown) <= 4000 and "…" in shown
    assert routed.answer_text == long_answer


def test_dispatch_centre_cannot_close_a_proposal_case_in_triage(session, routed, make_user):  # type: ignore[no-untyped-def]
    """Returned as "not ours", the case is back in triage: the coordinator may route it again,
    not close it (only a department's answer, which may reject the proposal, ends it)."""
    clerk = make_user(role="staff", department="transport")
    coordinator = make_user(role="coordinator")
    case = routed.case
    wb.return_case(session, case=case, actor=clerk, reason="不是本部门职责范围")
    session.commit()
    assert case.status == "triage" and routed.status == lc.UNDER_REVIEW
    with pytest.raises(PermissionDenied):  # nobody leads it: nobody can answer now
        _answer(session, routed, clerk)
    session.rollback()
    for reason in ("invalid", "out_of_scope"):
        with pytest.raises(InvalidTransition) as refused:
            close_invalid(
                session, case=case, actor=coordinator, reason=reason, note="不属于受理范围"
            )
        session.rollback()
        assert refused.value.code == "answer_required"
    session.expire_all()
    assert case.status == "triage"
    dispatch_case(
        session, case=case, actor=coordinator, category_code="G03-03", department_code="transport"
    )
    session.commit()
    _answer(session, routed, clerk, outcome="rejected")
    session.commit()
    assert routed.status == lc.ANSWERED and case.status == "resolved"


def test_threshold_reached_in_triage_cannot_be_closed_either(
    session, settings, make_proposal, resident, make_user
):  # type: ignore[no-untyped-def]
    from portal.jurisdiction.models import RoutingRule

    for rule in session.scalars(select(RoutingRule)):
        rule.active = False
    session.commit()
    settings(proposal_support_threshold=1)
    proposal = make_proposal()
    svc.support_proposal(session, proposal=proposal, user=resident())
    session.commit()
    assert proposal.status == lc.THRESHOLD_REACHED and proposal.case.status == "triage"
    with pytest.raises(InvalidTransition):
        close_invalid(
            session,
            case=proposal.case,
            actor=make_user(role="coordinator"),
            reason="duplicate",
            duplicate_of=proposal.case.tracking_number,  # checked after the answer rule
        )


def test_other_cases_still_resolve_and_close(session, make_case, make_user):  # type: ignore[no-untyped-def]
    """The rule touches only cases that carry a proposal's answer."""
    case = make_case(
        text="小区门口的路灯坏了一个多星期，晚上很黑，请尽快修理。", category_code="G03-03"
    )
    clerk = make_user(role="staff", department=case.lead_department.code)
    wb.accept_case(session, case=case, actor=clerk)
    wb.resolve_case(session, case=case, actor=clerk, summary="路灯已修复。")
    session.commit()
    assert case.status == "resolved"


def test_transfer_moves_the_duty_to_answer(session, routed, make_user):  # type: ignore[no-untyped-def]
    old_clerk = make_user(role="staff", department="transport")
    new_clerk = make_user(role="staff", department="housing")
    coordinator = make_user(role="coordinator")
    case = routed.case
    wb.transfer_case(
        session, case=case, actor=coordinator, department_code="housing", reason="涉及小区道路"
    )
    session.commit()
    assert case.status == "assigned" and routed.status == lc.UNDER_REVIEW
    with pytest.raises(PermissionDenied):
        _answer(session, routed, old_clerk)
    session.rollback()
    wb.accept_case(session, case=case, actor=new_clerk)
    with pytest.raises(InvalidTransition):
        wb.resolve_case(session, case=case, actor=new_clerk, summary="已处理完毕。")
    session.rollback()
    _answer(session, routed, new_clerk, outcome="accepted")
    session.commit()
    assert routed.answered_by_department.code == "housing" and case.status == "resolved"


def test_reopened_case_keeps_the_answer_and_resolves_normally(session, routed, make_user):  # type: ignore[no-untyped-def]
    """The resident's "not resolved" reopens the case for more work; the published answer stands
    (it is the proposal's public record), so the department resolves the case again as usual."""
    clerk = make_user(role="staff", department="transport")
    case = routed.case
    _answer(session, routed, clerk, outcome="accepted")
    session.commit()
    record_verdict(
        session, case=case, user=routed.author, resolved=False, satisfaction=2, comment="还没动工"
    )
    session.commit()
    assert case.status == "assigned" and routed.status == lc.ANSWERED
    wb.accept_case(session, case=case, actor=clerk)
    wb.resolve_case(session, case=case, actor=clerk, summary="临时停靠站已设置。")
    session.commit()
    assert case.status == "resolved" and _resolve_events(session, case) == 2
    with pytest.raises(InvalidTransition):  # answered once, for good
        _answer(session, routed, clerk)


def test_a_case_resolved_before_the_rule_can_still_be_answered(session, routed, make_user):  # type: ignore[no-untyped-def]
    """Data from before this rule: the case was resolved in the workbench and the proposal stayed
    under review. The department's answer releases the proposal; the case is left as it is."""
    from portal.cases.status import transition

    clerk = make_user(role="staff", department="transport")
    case = routed.case
    wb.accept_case(session, case=case, actor=clerk)
    transition(session, case, "resolve", actor=clerk, note="已处理。")  # the old bypass
    session.commit()
    _answer(session, routed, clerk)
    session.commit()
    assert routed.status == lc.ANSWERED and case.status == "resolved"
    assert _resolve_events(session, case) == 1


# --- web --------------------------------------------------------------------------------------


def _html(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def test_clerk_answers_in_the_workbench_in_place_of_resolving(client, session, routed, make_user):  # type: ignore[no-untyped-def]
    clerk = make_user(role="staff", department="transport")
    number = routed.case.tracking_number
    login(client, clerk)
    html = _html(client, f"/workbench/cases/{number}")
    assert 'id="answer-form"' in html and 'name="answer-outcome"' in html
    assert 'name="answer-reasons"' in html and 'id="resolve-form"' not in html
    assert "Answer it below" in html
    client.post(f"/workbench/cases/{number}/accept")
    html = _html(client, f"/workbench/cases/{number}")
    assert 'id="answer-form"' in html and 'id="resolve-form"' not in html

    # "Mark resolved" posted anyway (an old page, a script): refused with the reason, shown
    # where the answer form is.
    refused = client.post(
        f"/workbench/cases/{number}/resolve", data={"resolve-summary": "已经处理完毕。"}
    )
    assert refused.status_code == 302 and refused.headers["Location"].endswith("#answer-form")
    page = _html(client, refused.headers["Location"])
    assert "it is resolved by publishing the official answer" in page
    session.expire_all()
    assert session.get(Case, routed.case_id).status == "accepted"

    # A missing reason comes back on its field, with the clerk's text kept.
    bad = client.post(
        f"/workbench/cases/{number}/answer",
        data={"answer-outcome": "partly_accepted", "answer-answer": ANSWER, "answer-reasons": ""},
    )
    assert bad.status_code == 422
    bad_html = bad.get_data(as_text=True)
    assert 'class="field-error"' in bad_html and ANSWER in bad_html
    bad = client.post(
        f"/workbench/cases/{number}/answer",
        data={"answer-outcome": "partly_accepted", "answer-answer": ANSWER, "answer-reasons": "短"},
    )
    assert bad.status_code == 422 and "too short" in bad.get_data(as_text=True)
    session.expire_all()
    assert session.get(Proposal, routed.id).status == lc.UNDER_REVIEW

    done = client.post(
        f"/workbench/cases/{number}/answer",
        data={
            "answer-outcome": "partly_accepted",
            "answer-answer": ANSWER,
            "answer-reasons": REASONS,
        },
        follow_redirects=True,
    )
    assert done.status_code == 200
    assert "The official answer is published" in done.get_data(as_text=True)
    session.expire_all()
    proposal = session.get(Proposal, routed.id)
    assert proposal.status == lc.ANSWERED and proposal.case.status == "resolved"
    after = done.get_data(as_text=True)
    assert 'id="answer-form"' not in after and "It has been answered" in after
    again = client.post(
        f"/workbench/cases/{number}/answer",
        data={"answer-outcome": "accepted", "answer-answer": ANSWER, "answer-reasons": REASONS},
        follow_redirects=True,
    )
    assert "not available on this case any more" in again.get_data(as_text=True)

    # The public case page shows the answer in its timeline and links to the proposal.
    public = _html(client, f"/cases/{number}")
    assert ANSWER in public and REASONS in public
    assert f'href="/proposals/{proposal.id}#answer"' in public
    assert "Partly accepted" in public


def test_only_the_answering_department_sees_the_form(client, session, routed, make_user):  # type: ignore[no-untyped-def]
    number = routed.case.tracking_number
    login(client, make_user(role="coordinator"))
    html = _html(client, f"/workbench/cases/{number}")
    assert 'id="answer-form"' not in html
    assert "on the proposal page" in html
    assert client.post(f"/workbench/cases/{number}/answer").status_code == 302
    session.expire_all()
    assert session.get(Proposal, routed.id).status == lc.UNDER_REVIEW
    # The public page says the answer is still awaited.
    assert "has not answered it yet" in _html(client, f"/cases/{number}")


def test_workbench_answer_needs_the_csrf_token(make_app: Any) -> None:
    """With CSRF on, the answer post without the page's token is refused (400) and changes
    nothing; with it, the answer is published and the case resolved."""
    from portal import get_session
    from portal.deliberation.services import create_proposal, support_proposal
    from portal.jurisdiction.services import set_setting
    from tests.factories import create_user

    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        session = get_session()
        load_demo_jurisdiction(session)
        set_setting(session, "proposal_support_threshold", 1)
        author = create_user(session, role="resident", verification_level=2)
        supporter = create_user(session, role="resident", verification_level=2)
        clerk = create_user(session, role="staff", department="transport")
        proposal = create_proposal(
            session, author=author, title="增设公交站点", body=PROPOSAL_TEXT, category_code="G03-03"
        )
        support_proposal(session, proposal=proposal, user=supporter)
        session.commit()
        proposal_id, number, clerk_id = proposal.id, proposal.case.tracking_number, clerk.id
    client = app.test_client()
    with client.session_transaction() as flask_session:
        flask_session["_user_id"] = str(clerk_id)
        flask_session["_fresh"] = True
    data = {"answer-outcome": "accepted", "answer-answer": ANSWER, "answer-reasons": REASONS}
    assert client.post(f"/workbench/cases/{number}/answer", data=data).status_code == 400
    with app.app_context():
        assert get_session().get(Proposal, proposal_id).status == lc.UNDER_REVIEW
    page = client.get(f"/workbench/cases/{number}").get_data(as_text=True)
    token = re.search(r'id="answer-csrf_token" name="answer-csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None, page[:3000]
    ok = client.post(
        f"/workbench/cases/{number}/answer", data={**data, "answer-csrf_token": token.group(1)}
    )
    assert ok.status_code == 302
    with app.app_context():
        proposal = get_session().get(Proposal, proposal_id)
        assert proposal.status == lc.ANSWERED and proposal.case.status == "resolved"
