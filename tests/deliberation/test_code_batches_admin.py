"""``/admin/verification-codes``: administrators issue a batch for an area, see the codes once on
a printable page, follow redeemed/expired/revoked counts page by page and revoke unused codes;
everyone else gets the admin area's 404; forms need a CSRF token; every change is audited.
On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEntry
from portal.db import utcnow
from portal.deliberation import participation as part
from portal.deliberation.models import VerificationCode, VerificationCodeBatch
from portal.errors import ValidationError
from tests.admin.conftest import sign_in

URL = "/admin/verification-codes/"
CODE_RE = re.compile(r'<p class="code">([A-Z2-9]{5}) ([A-Z2-9]{5})</p>')


def _token(html: str) -> str:
    match = re.search(r'name="request_token" type="hidden" value="([^"]+)"', html)
    assert match, "no request token in the issuing form"
    return match.group(1)


def _issue(client: Any, **fields: Any) -> Any:
    form = client.get(URL)
    assert form.status_code == 200
    data = {
        "area_code": "LJ-WS-01",
        "count": "3",
        "level": "2",
        "valid_days": "30",
        "issued_by": "青松社区居委会",
        "request_token": _token(form.get_data(as_text=True)),
    }
    data.update({k: str(v) for k, v in fields.items()})
    return client.post(URL, data=data), data


def _codes(html: str) -> list[str]:
    return [a + b for a, b in CODE_RE.findall(html)]


@pytest.fixture
def admin_client(client, jurisdiction, make_user):  # type: ignore[no-untyped-def]
    admin = make_user(role="admin", display_name="Admin Wang")
    sign_in(client, admin.email)
    return client


def test_issue_print_once_and_redeem(admin_client, session, make_user) -> None:  # type: ignore[no-untyped-def]
    issued, data = _issue(admin_client, count=3, level=1)
    assert issued.status_code == 200
    assert issued.headers["Cache-Control"] == "no-store"
    html = issued.get_data(as_text=True)
    codes = _codes(html)
    assert len(codes) == 3 and len(set(codes)) == 3
    assert "Print this page now" in html and "青松社区居委会" in html
    assert "phone confirmed" in html  # the level the codes grant

    batch = session.scalar(select(VerificationCodeBatch))
    assert batch is not None and batch.count == 3 and batch.level == 1
    assert batch.area is not None and batch.area.code == "LJ-WS-01"
    stored = session.scalars(select(VerificationCode).where(VerificationCode.batch_id == batch.id))
    hashes = {c.code_hash for c in stored}
    assert hashes == {part.code_hash(c) for c in codes}  # only hashes are stored
    # The list never shows them again.
    listing = admin_client.get(URL).get_data(as_text=True)
    assert not any(code[:5] in listing for code in codes)
    assert f"#{batch.id}" in listing
    # Sending the same form again (reload, double click) issues nothing and shows nothing.
    again = admin_client.post(URL, data=data)
    assert again.status_code == 302
    assert session.scalar(select(func.count()).select_from(VerificationCodeBatch)) == 1
    assert "already issued" in admin_client.get(URL).get_data(as_text=True)
    # A printed code works (the printed space is ignored) and grants the batch's level.
    resident = make_user(verification_level=0)
    part.redeem_verification_code(session, user=resident, code=f"{codes[0][:5]} {codes[0][5:]}")
    session.commit()
    assert resident.verification_level == 1
    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.action == "verification.issue_codes")
    )
    assert entry is not None and entry.target_id == str(batch.id)
    assert entry.after["count"] == 3 and entry.after["area"] == "LJ-WS-01"
    assert not any(code in str(entry.after) for code in codes)


def test_invalid_form_is_422_and_issues_nothing(admin_client, session) -> None:  # type: ignore[no-untyped-def]
    for fields in ({"count": 0}, {"count": 501}, {"valid_days": 400}, {"issued_by": ""}):
        response, _data = _issue(admin_client, **fields)
        assert response.status_code == 422, fields
        assert _codes(response.get_data(as_text=True)) == []
    response, _data = _issue(admin_client, area_code="NO-SUCH-AREA")
    assert response.status_code == 422
    assert session.scalar(select(func.count()).select_from(VerificationCodeBatch)) == 0


def test_list_counts_and_revoke_unused(admin_client, session, make_user) -> None:  # type: ignore[no-untyped-def]
    issued, _data = _issue(admin_client, count=4)
    codes = _codes(issued.get_data(as_text=True))
    batch = session.scalar(select(VerificationCodeBatch))
    assert batch is not None
    part.redeem_verification_code(session, user=make_user(), code=codes[0])
    expired = session.scalar(
        select(VerificationCode).where(VerificationCode.code_hash == part.code_hash(codes[1]))
    )
    assert expired is not None
    expired.expires_at = utcnow() - timedelta(minutes=1)
    session.commit()

    summary = admin_client.get(URL).get_data(as_text=True)
    row = re.search(rf"<td>#{batch.id}</td>(.*?)</tr>", summary, re.S)
    assert row is not None
    cells = re.findall(r"<td>(\d+)</td>", row.group(1))
    assert cells == ["4", "1", "1", "0", "2"]  # codes, redeemed, expired, revoked, still valid

    revoked = admin_client.post(f"{URL}{batch.id}/revoke")
    assert revoked.status_code == 302
    assert "2 unused code(s) of batch" in admin_client.get(URL).get_data(as_text=True)
    with pytest.raises(ValidationError):
        part.redeem_verification_code(session, user=make_user(), code=codes[2])
    session.rollback()
    row = re.search(
        rf"<td>#{batch.id}</td>(.*?)</tr>", admin_client.get(URL).get_data(as_text=True), re.S
    )
    assert row is not None
    assert re.findall(r"<td>(\d+)</td>", row.group(1)) == ["4", "1", "1", "2", "0"]
    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.action == "verification.codes_revoked")
    )
    assert entry is not None and entry.after == {"revoked": 2}
    assert admin_client.post(f"{URL}999999/revoke").status_code == 404


def test_revoke_one_code_from_a_lost_slip(admin_client, session, make_user) -> None:  # type: ignore[no-untyped-def]
    issued, _data = _issue(admin_client, count=2)
    lost, kept = _codes(issued.get_data(as_text=True))
    done = admin_client.post(f"{URL}revoke-code", data={"code": lost.lower()})
    assert done.status_code == 302
    with pytest.raises(ValidationError):
        part.redeem_verification_code(session, user=make_user(), code=lost)
    session.rollback()
    part.redeem_verification_code(session, user=make_user(), code=kept)
    session.commit()
    used = admin_client.post(f"{URL}revoke-code", data={"code": kept})
    assert used.status_code == 422 and "already been used" in used.get_data(as_text=True)
    unknown = admin_client.post(f"{URL}revoke-code", data={"code": "AAAAABBBBB"})
    assert unknown.status_code == 422 and "no such code" in unknown.get_data(as_text=True)


def test_batches_are_paginated(admin_client, session) -> None:  # type: ignore[no-untyped-def]
    for n in range(30):
        part.issue_code_batch(session, count=1, issued_by=f"office {n}")
    session.commit()
    first = admin_client.get(URL).get_data(as_text=True)
    second = admin_client.get(f"{URL}?page=2").get_data(as_text=True)
    assert "office 29" in first and "office 0<" not in first
    assert "office 0<" in second and "Page 2 of 2" in second


@pytest.mark.parametrize("role", [None, "resident", "coordinator", "moderator", "staff"])
def test_404_for_everyone_but_administrators(
    client, jurisdiction, make_user, session, role
) -> None:  # type: ignore[no-untyped-def]
    if role is not None:
        kwargs = {"department": "housing"} if role == "staff" else {}
        sign_in(client, make_user(role=role, **kwargs).email)
    batch = part.issue_code_batch(session, count=1, issued_by="office").batch
    session.commit()
    assert client.get(URL).status_code == 404
    assert client.post(URL, data={"count": "5", "issued_by": "x", "level": "2"}).status_code == 404
    assert client.post(f"{URL}{batch.id}/revoke").status_code == 404
    assert client.post(f"{URL}revoke-code", data={"code": "x"}).status_code == 404
    assert session.scalar(select(func.count()).select_from(VerificationCodeBatch)) == 1
    assert (
        session.scalar(
            select(func.count()).select_from(VerificationCode).where(VerificationCode.revoked)
        )
        == 0
    )


def test_forms_need_a_csrf_token(app, admin_client, session) -> None:  # type: ignore[no-untyped-def]
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = admin_client.get(URL).get_data(as_text=True)
        data = {
            "count": "2",
            "level": "2",
            "valid_days": "10",
            "issued_by": "office",
            "area_code": "",
            "request_token": _token(page),
        }
        assert admin_client.post(URL, data=data).status_code == 400
        batch = part.issue_code_batch(session, count=1, issued_by="office").batch
        session.commit()
        assert admin_client.post(f"{URL}{batch.id}/revoke").status_code == 400
        assert admin_client.post(f"{URL}revoke-code", data={"code": "x"}).status_code == 400
        assert (
            session.scalar(
                select(func.count()).select_from(VerificationCode).where(VerificationCode.revoked)
            )
            == 0
        )
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert token is not None
        issued = admin_client.post(URL, data=data | {"csrf_token": token.group(1)})
        assert issued.status_code == 200 and len(_codes(issued.get_data(as_text=True))) == 2
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_admin_overview_links_the_page(admin_client) -> None:  # type: ignore[no-untyped-def]
    assert URL in admin_client.get("/admin/").get_data(as_text=True)
