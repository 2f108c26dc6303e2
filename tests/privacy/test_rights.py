"""Residents' rights: the privacy notice, downloading one's data and deleting one's account
(personal data erased everywhere, public masked texts and statistics kept, all audited)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from portal.accounts.models import ChannelIdentity, User
from portal.audit.models import AuditEntry
from portal.cases.models import Case, CaseContact
from portal.cases.services import follow_case
from portal.privacy.services import PRIVACY_NOTICE_VERSION
from tests.factories import DEFAULT_PASSWORD
from tests.privacy.conftest import CANARY_NAME, CANARY_PHONE, CANARY_TELEGRAM_ID, CANARY_TEXT
from tests.web.conftest import sign_in


def test_privacy_notice_page(client) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/privacy?lang=en", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert PRIVACY_NOTICE_VERSION in html
    for topic in ("Who is responsible", "How long we keep it", "Your rights", "Contact"):
        assert topic in html
    assert "180 days" in html  # the retention rule, from the settings


def test_export_and_erasure_round_trip(client, session, canary_case, make_case) -> None:  # type: ignore[no-untyped-def]
    resident = canary_case.submitter
    session.add(
        ChannelIdentity(user_id=resident.id, channel="telegram", external_id=CANARY_TELEGRAM_ID)
    )
    other = make_case()
    follow_case(session, case=other, user=resident)
    session.commit()
    email = resident.email
    sign_in(client, email)

    assert client.get("/privacy/my-data").status_code == 200
    exported = client.get("/privacy/my-data/export.json")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    data = json.loads(exported.get_data(as_text=True))
    assert data["account"]["email"] == email
    assert data["identities"] == [
        {
            "channel": "telegram",
            "external_id": CANARY_TELEGRAM_ID,
            "created_at": data["identities"][0]["created_at"],
        }
    ]
    [mine] = data["cases"]
    assert mine["tracking_number"] == canary_case.tracking_number and mine["text"] == CANARY_TEXT
    assert mine["contact"]["phone"] == CANARY_PHONE and mine["contact"]["name"] == CANARY_NAME
    assert mine["contact"]["consent_notice_version"] == PRIVACY_NOTICE_VERSION
    assert mine["contact"]["consent_purpose"] == "case_handling"
    assert {f["tracking_number"] for f in data["followed_cases"]} >= {other.tracking_number}

    refused = client.post(
        "/privacy/my-data/delete", data={"password": DEFAULT_PASSWORD, "confirmation": "no"}
    )
    assert refused.status_code == 422
    wrong = client.post(
        "/privacy/my-data/delete", data={"password": "wrong", "confirmation": "DELETE"}
    )
    assert wrong.status_code == 422
    session.expire_all()
    assert session.get(User, resident.id).email == email  # nothing erased yet

    done = client.post(
        "/privacy/my-data/delete", data={"password": DEFAULT_PASSWORD, "confirmation": "DELETE"}
    )
    assert done.status_code == 302
    session.expire_all()
    user = session.get(User, resident.id)
    assert (user.email, user.password_hash, user.active) == (None, None, False)
    assert CANARY_NAME not in user.display_name
    assert (
        session.scalars(select(ChannelIdentity).where(ChannelIdentity.user_id == user.id)).all()
        == []
    )
    assert session.scalar(select(CaseContact).where(CaseContact.case_id == canary_case.id)) is None
    case = session.get(Case, canary_case.id)
    assert case.text_raw == case.text_masked and CANARY_PHONE not in case.text_raw
    assert case.address_text is None and round(case.lat, 3) == case.lat
    # The public record and the statistics stay; the person is gone.
    public = client.get(f"/cases/{case.tracking_number}").get_data(as_text=True)
    assert case.title in public and CANARY_PHONE not in public
    assert session.get(Case, other.id).me_too_count == 1
    assert client.get("/privacy/my-data").status_code == 302  # signed out
    assert (
        client.post("/login", data={"email": email, "password": DEFAULT_PASSWORD}).status_code
        != 302
    )
    actions = session.execute(
        select(AuditEntry.action, AuditEntry.target_id).where(AuditEntry.target_type == "user")
    ).all()
    assert ("personal_data_exported", str(user.id)) in actions
    assert ("account_erased", str(user.id)) in actions


def test_staff_cannot_erase_their_own_account(client, session, make_user) -> None:  # type: ignore[no-untyped-def]
    clerk = make_user(role="coordinator")
    sign_in(client, clerk.email)
    response = client.post(
        "/privacy/my-data/delete", data={"password": DEFAULT_PASSWORD, "confirmation": "DELETE"}
    )
    assert response.status_code == 403
    session.expire_all()
    assert session.get(User, clerk.id).active


def test_channel_resident_exports_and_erases_through_the_api(client, session, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    from portal.api.services import create_api_key

    key = create_api_key(session, name="bot", scopes=["channel:telegram"]).secret
    session.commit()
    bot = {"Authorization": f"Bearer {key}", "X-Shuzhi-Resident": f"telegram:{CANARY_TELEGRAM_ID}"}
    created = client.post(
        "/api/v1/cases",
        json={
            "text": CANARY_TEXT,
            "contact_phone": CANARY_PHONE,
            "consent": True,
            "lat": 28.222,
            "lon": 112.86,
        },
        headers={**bot, "Idempotency-Key": "rights-1"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    exported = client.get("/api/v1/me/data", headers=bot)
    assert exported.status_code == 200 and exported.headers["Cache-Control"] == "no-store"
    data = exported.get_json()
    assert data["identities"][0]["external_id"] == CANARY_TELEGRAM_ID
    assert data["cases"][0]["contact"]["phone"] == CANARY_PHONE
    assert client.get("/api/v1/me/data").status_code == 401
    refused = client.post("/api/v1/me/data/erase", json={"confirm": "yes"}, headers=bot)
    assert refused.status_code == 422 and refused.get_json()["code"] == "invalid"
    erased = client.post("/api/v1/me/data/erase", json={"confirm": "DELETE"}, headers=bot)
    assert erased.status_code == 200 and erased.get_json()["identities"] == 1
    session.expire_all()
    assert session.scalars(select(ChannelIdentity)).all() == []
    assert session.scalars(select(CaseContact)).all() == []
    case = session.scalar(select(Case))
    assert case.text_raw == case.text_masked and case.submitter.active is False


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_registry_page_for_administrators_only(client, make_user) -> None:  # type: ignore[no-untyped-def]
    clerk = make_user(role="staff")
    sign_in(client, clerk.email)
    assert client.get("/privacy/registry").status_code == 404
    client.post("/logout")
    admin = make_user(role="admin")
    sign_in(client, admin.email)
    html = client.get("/privacy/registry").get_data(as_text=True)
    assert '<tr class="level-sensitive"><td>case_contacts</td><td>phone</td>' in html
    assert '<tr class="level-secret"><td>users</td><td>password_hash</td>' in html
