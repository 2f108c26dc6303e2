"""The workbench pages over HTTP: who sees what, actions through forms, clear messages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.cases.models import Case
from portal.workbench import services
from portal.workbench.models import ResponseTemplate, TransferRequest
from tests.workbench.conftest import People, login


def _page(client: Any, url: str) -> tuple[int, str]:
    response = client.get(url)
    return response.status_code, response.get_data(as_text=True)


def test_navigation_and_page_access_by_role(
    client: Any, assigned_case: Case, people: People
) -> None:
    assert client.get("/workbench/").status_code == 302  # anonymous → sign in
    login(client, people.resident)
    status, html = _page(client, "/cases")
    assert "/workbench/" not in html and "/workbench/triage" not in html
    assert client.get("/workbench/").status_code == 403
    assert client.get("/workbench/triage").status_code == 403
    assert client.get(f"/workbench/cases/{assigned_case.tracking_number}").status_code == 404

    login(client, people.staff)
    status, html = _page(client, "/workbench/")
    assert status == 200 and assigned_case.tracking_number in html
    assert 'href="/workbench/"' in html and "/workbench/triage" not in html
    assert client.get("/workbench/figures").status_code == 403  # a clerk, not the head
    assert client.get("/workbench/transfers").status_code == 403

    login(client, people.other_staff)
    assert assigned_case.tracking_number not in _page(client, "/workbench/")[1]
    assert client.get(f"/workbench/cases/{assigned_case.tracking_number}").status_code == 404

    login(client, people.coordinator)
    status, html = _page(client, "/workbench/triage")
    assert status == 200 and 'href="/workbench/triage"' in html
    assert client.get("/workbench/").headers["Location"].endswith("/workbench/triage")
    assert client.get(f"/workbench/cases/{assigned_case.tracking_number}").status_code == 200

    login(client, people.head)
    status, html = _page(client, "/workbench/figures")
    assert status == 200 and 'data-figure="open">1<' in html


def test_staff_case_page_and_actions(
    client: Any, session: Any, assigned_case: Case, people: People
) -> None:
    number = assigned_case.tracking_number
    login(client, people.staff)
    status, html = _page(client, f"/workbench/cases/{number}")
    assert status == 200 and assigned_case.text_masked in html and 'id="accept-form"' in html
    assert 'id="resolve-form"' not in html  # not before accepting

    response = client.post(f"/workbench/cases/{number}/accept", follow_redirects=True)
    assert response.status_code == 200 and "You accepted the case" in response.get_data(
        as_text=True
    )
    again = client.post(f"/workbench/cases/{number}/accept", follow_redirects=True)
    assert "not available on this case any more" in again.get_data(as_text=True)

    empty = client.post(f"/workbench/cases/{number}/resolve", data={"resolve-summary": ""})
    assert empty.status_code == 422 and 'class="field-error"' in empty.get_data(as_text=True)
    session.expire_all()
    assert session.get(Case, assigned_case.id).status == "accepted"

    reply = client.post(
        f"/workbench/cases/{number}/reply",
        data={"reply-body": "已联系物业公司，本周内清理。", "reply-public": "y"},
        follow_redirects=True,
    )
    assert "Reply published." in reply.get_data(as_text=True)
    done = client.post(
        f"/workbench/cases/{number}/resolve",
        data={"resolve-summary": "物业已清理楼道并维修电梯。"},
        follow_redirects=True,
    )
    assert done.status_code == 200
    session.expire_all()
    case = session.get(Case, assigned_case.id)
    assert case.status == "resolved"
    assert [e.type for e in case.events][-3:] == ["accept", "reply", "resolve"]


def test_response_template_prefills_the_reply(
    client: Any, session: Any, assigned_case: Case, people: People
) -> None:
    template = ResponseTemplate(
        category=assigned_case.category, title="物业督办", body="{tracking_number}已转物业。"
    )
    session.add(template)
    session.commit()
    login(client, people.staff)
    status, html = _page(
        client, f"/workbench/cases/{assigned_case.tracking_number}?template={template.id}"
    )
    assert status == 200 and f"{assigned_case.tracking_number}已转物业。</textarea>" in html
    assert (
        client.get(f"/workbench/cases/{assigned_case.tracking_number}?template=999").status_code
        == 404
    )


def test_triage_dispatch_through_the_form(
    client: Any, session: Any, make_triage_case: Any, people: People
) -> None:
    case = make_triage_case()
    login(client, people.coordinator)
    status, html = _page(client, "/workbench/triage")
    assert case.tracking_number in html
    status, html = _page(client, f"/workbench/triage/{case.tracking_number}")
    assert status == 200 and 'id="dispatch-form"' in html and case.text_masked in html
    bad = client.post(
        f"/workbench/triage/{case.tracking_number}/dispatch", data={"dispatch-category": "G14-01"}
    )
    assert bad.status_code == 422 and "choose a department" in bad.get_data(as_text=True)
    ok = client.post(
        f"/workbench/triage/{case.tracking_number}/dispatch",
        data={"dispatch-category": "G01-09", "dispatch-co_departments": ["ecology"]},
        follow_redirects=True,
    )
    assert ok.status_code == 200 and "dispatched to" in ok.get_data(as_text=True)
    session.expire_all()
    case = session.get(Case, case.id)
    assert case.status == "assigned" and case.lead_department.code == "housing"
    assert sorted(t.department.code for t in case.tasks) == ["ecology", "housing"]


def test_transfer_request_and_approval(
    client: Any, session: Any, assigned_case: Case, people: People
) -> None:
    number = assigned_case.tracking_number
    login(client, people.staff)
    response = client.post(
        f"/workbench/cases/{number}/transfer",
        data={"transfer-department": "ecology", "transfer-reason": "主要是环境污染问题。"},
        follow_redirects=True,
    )
    assert "Transfer requested" in response.get_data(as_text=True)
    request = session.scalars(select(TransferRequest)).one()
    login(client, people.coordinator)
    assert number in _page(client, "/workbench/transfers")[1]
    client.post(f"/workbench/transfers/{request.id}", data={"decision": "approve"})
    session.expire_all()
    assert session.get(Case, assigned_case.id).lead_department.code == "ecology"
    assert session.get(TransferRequest, request.id).status == "approved"


def test_resident_verdict_form_reopens(
    client: Any, session: Any, assigned_case: Case, people: People
) -> None:
    services.accept_case(session, case=assigned_case, actor=people.staff)
    services.resolve_case(session, case=assigned_case, actor=people.staff, summary="已经处理完毕。")
    session.commit()
    number = assigned_case.tracking_number
    login(client, people.stranger)
    assert client.get(f"/cases/{number}/verdict").status_code == 403
    assert "Rate the outcome" not in _page(client, f"/cases/{number}")[1]  # not the submitter
    login(client, people.resident)
    for page in (f"/cases/{number}", "/my/cases"):  # the prompt on the case page and my cases
        assert f'href="/cases/{number}/verdict"' in _page(client, page)[1]
    status, html = _page(client, f"/cases/{number}/verdict")
    assert status == 200 and 'id="verdict-form"' in html and "已经处理完毕。" in html
    missing = client.post(f"/cases/{number}/verdict", data={"resolved": "no"})
    assert missing.status_code == 422
    response = client.post(
        f"/cases/{number}/verdict",
        data={"resolved": "no", "satisfaction": "2", "comment": "楼道还是很脏。"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    session.expire_all()
    case = session.get(Case, assigned_case.id)
    assert case.status == "assigned" and case.events[-1].note == "楼道还是很脏。"
    late = client.post(f"/cases/{number}/verdict", data={"resolved": "yes", "satisfaction": "5"})
    assert late.status_code == 302  # not waiting for a verdict any more
    assert f'href="/cases/{number}/verdict"' not in _page(client, f"/cases/{number}")[1]


def test_co_department_sees_its_share_and_marks_it_done(
    client: Any, session: Any, assigned_case: Case, people: People
) -> None:
    import io

    from PIL import Image

    number = assigned_case.tracking_number
    services.accept_case(session, case=assigned_case, actor=people.staff)
    services.request_co_handling(
        session,
        case=assigned_case,
        actor=people.staff,
        department_code="ecology",
        note="请协助检测异味。",
    )
    session.commit()
    login(client, people.other_staff)
    status, html = _page(client, "/workbench/")
    assert status == 200 and number in html and "Co-handling" in html
    status, html = _page(client, f"/workbench/cases/{number}")
    assert status == 200 and 'id="co_done-form"' in html and 'id="resolve-form"' not in html
    assert 'name="reply-public"' not in html  # co-departments write internal notes only
    client.post(
        f"/workbench/cases/{number}/co_done", data={"codone-note": "已检测，已处罚排污企业。"}
    )
    session.expire_all()
    task = next(t for t in session.get(Case, assigned_case.id).tasks if t.role == "co")
    assert task.status == "done"

    login(client, people.staff)
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 120, 40)).save(buffer, format="JPEG")
    response = client.post(
        f"/workbench/cases/{number}/attach",
        data={
            "photo-photos": [(io.BytesIO(buffer.getvalue()), "after.jpg", "image/jpeg")],
            "photo-public": "y",
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Photos attached." in response.get_data(as_text=True)
    session.expire_all()
    case = session.get(Case, assigned_case.id)
    assert len(case.attachments) == 1 and case.events[-1].type == "attachment"
    assert case.attachments[0].event_id == case.events[-1].id


def test_close_reason_reads_in_the_readers_language(
    client: Any, session: Any, make_triage_case: Any, people: People
) -> None:
    from portal.workbench import triage

    case = make_triage_case()
    triage.close_invalid(
        session,
        case=case,
        actor=people.coordinator,
        reason="out_of_scope",
        note="这是私人合同纠纷，请通过法院解决。",
    )
    session.commit()
    login(client, people.coordinator)
    url = f"/workbench/cases/{case.tracking_number}"
    status, html = _page(client, url + "?lang=en")
    assert status == 200
    assert "Reason: Outside our remit" in html
    zh = _page(client, url + "?lang=zh_Hans_CN")[1]
    assert "out_of_scope" not in zh and "Outside our remit" not in zh
