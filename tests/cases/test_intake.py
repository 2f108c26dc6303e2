"""Resident intake through the service layer: routing, triage, validation, "me too", public view."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

import nlp
from portal.cases.models import (
    Attachment,
    Case,
    CaseContact,
    CaseEvent,
    CaseFollower,
    CaseTask,
    Notification,
    TrackingCounter,
)
from portal.cases.services import (
    follow_case,
    get_case_by_tracking_number,
    preview_case,
    public_case_view,
    submit_case,
)
from portal.cases.status import transition
from portal.cases.tracking import normalize_tracking_number
from portal.errors import NotFound, ValidationError
from portal.jurisdiction.models import RoutingRule
from portal.jurisdiction.services import set_setting
from tests.factories import OUTSIDE_POINT, POINTS

STREET_LAMP = "小区门口的路灯坏了一个多星期，晚上走路很黑。"
NOISE = "楼下饭店每天晚上油烟很大，排风机噪音扰民，影响休息。"


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def _submit(session, resident, text=STREET_LAMP, **kwargs) -> Case:
    kwargs.setdefault("channel", "web")
    case = submit_case(session, text=text, submitter=resident, **kwargs)
    session.commit()
    return case


def test_submit_routes_by_category_and_street(session, jurisdiction, make_user) -> None:
    assert nlp.detect_urgency(STREET_LAMP)[0] == "normal"
    resident = make_user()
    case = _submit(
        session, resident, category_code="G01-02", lat=POINTS["LJ-JB"][0], lon=POINTS["LJ-JB"][1]
    )
    assert case.status == "assigned"
    assert case.triage_reason is None
    assert case.area.code == "LJ-JB-01"
    assert case.lead_department.code == "street_jb"
    tasks = {(t.department.code, t.role) for t in case.tasks}
    assert tasks == {("street_jb", "lead"), ("urban_mgmt", "co")}
    assert case.sla_profile.code == "utilities" and case.priority == "normal"
    assert case.due_at - case.created_at == timedelta(hours=24)
    assert case.respond_due_at - case.created_at == timedelta(hours=2)
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)).all()
    assert [(e.type, e.from_status, e.to_status) for e in events] == [("submit", None, "assigned")]
    follower = session.scalar(select(CaseFollower).where(CaseFollower.case_id == case.id))
    assert (follower.user_id, follower.reason) == (resident.id, "submitter")
    assert normalize_tracking_number(case.tracking_number) == case.tracking_number
    assert case.tracking_number.startswith("LJ-")
    assert case.model_version and 0 <= case.prediction_confidence <= 1
    assert case.predicted_category is not None


def test_submit_uses_the_engine_when_no_category_is_chosen(
    session, jurisdiction, make_user
) -> None:
    set_setting(session, "triage_confidence_threshold", 0.0)
    session.commit()
    case = _submit(session, make_user(), text=NOISE, lat=POINTS["LJ-WS"][0], lon=POINTS["LJ-WS"][1])
    assert case.category is not None and case.category == case.predicted_category
    assert case.status == "assigned"
    assert case.lead_department is not None
    assert case.kind == "complaint"


def test_low_confidence_goes_to_triage(session, jurisdiction, make_user) -> None:
    set_setting(session, "triage_confidence_threshold", 1.01)
    session.commit()
    case = _submit(session, make_user(), text=NOISE)
    assert case.status == "triage"
    assert case.triage_reason == "low_confidence"
    assert case.lead_department is None
    assert _count(session, CaseTask) == 0
    assert case.due_at is not None  # the coordinators' queue is on the clock too


def test_chosen_category_is_routed_even_with_low_confidence(
    session, jurisdiction, make_user
) -> None:
    set_setting(session, "triage_confidence_threshold", 1.01)
    session.commit()
    case = _submit(session, make_user(), text=NOISE, category_code="G02-02")
    assert case.status == "assigned"
    assert case.lead_department.code == "ecology"


def test_no_rule_goes_to_triage(session, jurisdiction, make_user) -> None:
    session.execute(update(RoutingRule).values(active=False))
    session.commit()
    case = _submit(session, make_user(), category_code="G01-02")
    assert case.status == "triage"
    assert case.triage_reason == "no_rule"
    assert case.lead_department is None


def test_emergency_gets_the_emergency_deadline(session, jurisdiction, make_user) -> None:
    text = "小区楼道里燃气泄漏，闻到很浓的煤气味，请马上派人来！"
    assert nlp.detect_urgency(text)[0] == "emergency"
    case = _submit(session, make_user(), text=text, category_code="G01-01")
    assert case.priority == "emergency"
    assert case.sla_profile.code == "emergency"
    assert case.respond_due_at - case.created_at == timedelta(hours=1)
    assert case.due_at - case.created_at == timedelta(hours=2)


def test_submitted_without_account_has_no_follower(session, jurisdiction) -> None:
    case = _submit(session, None, channel="open311", category_code="G01-02")
    assert case.submitter is None
    assert _count(session, CaseFollower) == 0
    assert case.events[0].actor_role == "system"


#: Bad input → the field the resident is told about.
BAD_INPUT = [
    ({"text": "   "}, "text"),
    ({"text": "路灯"}, "text"),
    ({"text": "坏" * (nlp.MAX_TEXT_CHARS + 1)}, "text"),
    ({"lat": OUTSIDE_POINT[0], "lon": OUTSIDE_POINT[1]}, "location"),
    ({"lat": 28.2}, "location"),
    ({"lat": math.nan, "lon": 112.9}, "location"),
    ({"lat": 128.2, "lon": 112.9}, "location"),
    ({"contact_phone": "13912345678"}, "consent"),
    ({"contact_name": "王女士"}, "consent"),
    ({"contact_phone": "call me maybe", "consent": True}, "contact_phone"),
    ({"category_code": "NOPE"}, "category_code"),
    ({"kind": "rant"}, "kind"),
    ({"address": "路" * 201}, "address"),
    ({"area_code": "LJ-XX"}, "area_code"),
]


def test_bad_input_is_refused_and_nothing_is_saved(session, jurisdiction, make_user) -> None:
    resident = make_user()
    for bad, field in BAD_INPUT:
        kwargs = {"text": STREET_LAMP, **bad}
        with pytest.raises(ValidationError) as info:
            submit_case(session, channel="web", submitter=resident, **kwargs)
        session.rollback()
        assert info.value.field == field, bad
        assert info.value.message and "Traceback" not in info.value.message
        for model in (
            Case,
            CaseEvent,
            CaseFollower,
            CaseTask,
            CaseContact,
            Attachment,
            TrackingCounter,
        ):
            assert _count(session, model) == 0, (bad, model)


def test_contact_is_kept_with_consent_and_separately(session, jurisdiction, make_user) -> None:
    case = _submit(
        session, make_user(), contact_name="王女士", contact_phone="139 1234 5678", consent=True
    )
    contact = session.scalar(select(CaseContact).where(CaseContact.case_id == case.id))
    assert (contact.name, contact.phone) == ("王女士", "139 1234 5678")
    assert contact.consent_purpose and contact.consent_notice_version and contact.consented_at


def _valid_id_number(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


def test_public_view_holds_no_personal_data(session, jurisdiction, make_user) -> None:
    name, phone, address = "欧阳锋", "13987654321", "幸福路88号3栋502室"
    id_number = _valid_id_number("43010219850312001")
    resident = make_user(display_name="Canary Display", email="canary-mail@example.test")
    text = f"我叫{name}，电话{phone}，身份证{id_number}，住在{address}，楼下的路灯坏了很久了。"
    case = _submit(
        session,
        resident,
        text=text,
        contact_name=name,
        contact_phone=phone,
        consent=True,
        address=address,
        lat=POINTS["LJ-XQ"][0],
        lon=POINTS["LJ-XQ"][1],
    )
    follow_case(session, case=case, user=make_user(display_name="Second Canary"))
    session.commit()
    view = public_case_view(case)
    dumped = json.dumps(view, default=str, ensure_ascii=False)
    for canary in (
        name,
        phone,
        id_number,
        address,
        "Canary Display",
        "canary-mail",
        "Second Canary",
        str(POINTS["LJ-XQ"][0]),
        str(POINTS["LJ-XQ"][1]),
    ):
        assert canary not in dumped, canary
    assert case.text_raw == text  # kept for staff with a need to know
    assert view["text"] == case.text_masked and "路灯" in view["text"]
    assert view["tracking_number"] == case.tracking_number
    assert view["area"]["street"] == "新桥街道"
    assert view["timeline"][0]["type"] == "submit"
    assert view["submitter"] is None


def test_public_view_shows_the_name_only_when_the_resident_chose(
    session, jurisdiction, make_user
) -> None:
    resident = make_user(display_name="小王")
    case = _submit(session, resident, anonymous=False)
    assert public_case_view(case)["submitter"] == "小王"


def test_me_too_counts_each_resident_once(session, jurisdiction, make_user) -> None:
    submitter, neighbour = make_user(), make_user()
    case = _submit(session, submitter)
    for _ in range(2):
        follow_case(session, case=case, user=neighbour)
        session.commit()
    follow_case(session, case=case, user=submitter)  # one's own case: nothing changes
    session.commit()
    session.refresh(case)
    assert case.me_too_count == 1
    followers = session.execute(
        select(CaseFollower.user_id, CaseFollower.reason).where(CaseFollower.case_id == case.id)
    ).all()
    assert sorted(followers) == sorted([(submitter.id, "submitter"), (neighbour.id, "me_too")])
    me_too_events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.type == "me_too")
    ).all()
    assert len(me_too_events) == 1 and me_too_events[0].actor_id == neighbour.id
    assert public_case_view(case)["me_too_count"] == 1


def test_me_too_followers_hear_about_progress(session, jurisdiction, make_user) -> None:
    submitter, neighbour = make_user(), make_user()
    case = _submit(session, submitter, category_code="G01-02")
    follow_case(session, case=case, user=neighbour)
    transition(session, case, "accept", actor=None, actor_role="staff")
    session.commit()
    recipients = session.scalars(
        select(Notification.user_id).where(Notification.case_id == case.id)
    ).all()
    assert sorted(recipients) == sorted([submitter.id, neighbour.id])


def test_me_too_on_a_closed_case_is_refused(session, jurisdiction, make_user) -> None:
    set_setting(session, "triage_confidence_threshold", 1.01)
    session.commit()
    case = _submit(session, make_user(), text=NOISE)
    transition(session, case, "close", actor=None, actor_role="coordinator")
    session.commit()
    with pytest.raises(ValidationError):
        follow_case(session, case=case, user=make_user())


def test_get_case_by_tracking_number(session, jurisdiction, make_user) -> None:
    case = _submit(session, make_user())
    assert get_case_by_tracking_number(session, case.tracking_number) is case
    assert get_case_by_tracking_number(session, " " + case.tracking_number.lower() + " ") is case
    wrong_check = case.tracking_number[:-1] + str((int(case.tracking_number[-1]) + 1) % 10)
    for bad in (wrong_check, "", "LJ-0000-0000-0", "<script>"):
        with pytest.raises(NotFound):
            get_case_by_tracking_number(session, bad)


def test_preview_routes_and_finds_similar_cases_without_writing(
    session, jurisdiction, make_user
) -> None:
    set_setting(session, "triage_confidence_threshold", 0.0)
    session.commit()
    lat, lon = POINTS["LJ-JB"]
    existing = _submit(session, make_user(), text=NOISE, lat=lat, lon=lon)
    before = {m: _count(session, m) for m in (Case, CaseEvent, TrackingCounter)}
    preview = preview_case(session, text=NOISE, lat=lat + 0.0005, lon=lon)
    session.rollback()
    assert {m: _count(session, m) for m in before} == before
    assert preview.group is not None
    assert preview.department is not None
    assert preview.priority in ("normal", "urgent", "emergency")
    assert [s.case.id for s in preview.similar] == [existing.id]
    assert preview.similar[0].score > 0.5
    assert preview.similar[0].distance_m < 100
    with pytest.raises(ValidationError):
        preview_case(session, text=NOISE, lat=OUTSIDE_POINT[0], lon=OUTSIDE_POINT[1])


def test_urgent_reports_get_half_the_time(session, jurisdiction, make_user) -> None:
    text = "小区旁边的河道里有人偷排污水，气味很大，请尽快处理。"
    assert nlp.detect_urgency(text)[0] == "urgent"
    case = _submit(session, make_user(), text=text, category_code="G02-01")
    assert case.priority == "urgent"
    assert case.sla_profile.code == "general"
    assert case.respond_due_at - case.created_at == timedelta(hours=12)
    assert case.due_at - case.created_at == timedelta(hours=84)
