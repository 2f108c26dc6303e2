"""Need-to-know: a case's contact details, raw text and exact address only behind an audited
reveal, for the departments handling it, coordinators and admins; everyone else gets a 404."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEntry
from portal.audit.services import verify_chain
from tests.privacy.conftest import CANARY_ADDRESS, CANARY_NAME, CANARY_PHONE
from tests.web.conftest import sign_in

#: role, department → may reveal?
ROLES = [
    ("lead_staff", "staff", "street_jb", True),
    ("lead_head", "head", "street_jb", True),
    ("co_staff", "staff", "urban_mgmt", True),
    ("other_staff", "staff", "housing", False),
    ("other_head", "head", "housing", False),
    ("coordinator", "coordinator", None, True),
    ("admin", "admin", None, True),
    ("moderator", "moderator", None, False),
    ("resident", "resident", None, False),
    ("submitter", "submitter", None, False),
]


def _reveals(session: Any) -> int:
    return session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "contact_revealed")
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("who", "role", "department", "allowed"), ROLES, ids=[r[0] for r in ROLES])
def test_reveal_permissions_for_every_role(  # type: ignore[no-untyped-def]
    client, session, canary_case, make_user, who, role, department, allowed
) -> None:
    assert canary_case.lead_department.code == "street_jb"
    assert {t.department.code for t in canary_case.tasks} >= {"urban_mgmt"}
    if role == "submitter":
        user = canary_case.submitter
    else:
        user = make_user(role=role, department=department)
    sign_in(client, user.email)
    url = f"/workbench/cases/{canary_case.tracking_number}/reveal"
    form = client.get(url)
    posted = client.post(url, data={"reason": "to arrange a site visit"})
    html = posted.get_data(as_text=True)
    if allowed:
        assert form.status_code == 200 and CANARY_PHONE not in form.get_data(as_text=True)
        assert posted.status_code == 200, html[:500]
        assert CANARY_PHONE in html and CANARY_NAME in html and CANARY_ADDRESS in html
        assert posted.headers["Cache-Control"] == "no-store"
        assert _reveals(session) == 1
    else:
        assert form.status_code == 404 and posted.status_code == 404
        assert CANARY_PHONE not in html
        assert _reveals(session) == 0


def test_each_reveal_is_audited_and_the_staff_page_hides_details(  # type: ignore[no-untyped-def]
    client, session, canary_case, make_user
) -> None:
    clerk = make_user(role="staff", department="street_jb")
    sign_in(client, clerk.email)
    page = client.get(f"/workbench/cases/{canary_case.tracking_number}").get_data(as_text=True)
    assert 'id="reveal-link"' in page
    for canary in (CANARY_PHONE, CANARY_NAME, CANARY_ADDRESS):
        assert canary not in page
    url = f"/workbench/cases/{canary_case.tracking_number}/reveal"
    missing = client.post(url, data={"reason": " "})
    assert missing.status_code == 422 and CANARY_PHONE not in missing.get_data(as_text=True)
    assert _reveals(session) == 0
    for reason in ("to arrange a site visit", "resident asked to be called back"):
        assert CANARY_PHONE in client.post(url, data={"reason": reason}).get_data(as_text=True)
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "contact_revealed").order_by(AuditEntry.id)
    ).all()
    assert [(e.actor_id, e.target_id, e.reason) for e in entries] == [
        (clerk.id, canary_case.tracking_number, "to arrange a site visit"),
        (clerk.id, canary_case.tracking_number, "resident asked to be called back"),
    ]
    assert all(e.at is not None and "contact.phone" in e.after["fields"] for e in entries)
    assert all(CANARY_PHONE not in str(e.after) for e in entries)
    assert verify_chain(session).ok


def test_anonymous_visitors_are_sent_to_sign_in(client, canary_case) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/workbench/cases/{canary_case.tracking_number}/reveal")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
