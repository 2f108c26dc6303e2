"""The web intake form: sign-in requirement, check then submit, bad input, photos, "me too"."""

from __future__ import annotations

import gc
import io
import os
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select

from portal import get_session
from portal.cases.models import Attachment, Case, CaseContact, CaseEvent, CaseFollower
from tests.factories import OUTSIDE_POINT, POINTS, create_user, load_demo_jurisdiction
from tests.web.conftest import csrf_token_from, in_english, sign_in

TEXT = "小区门口的路灯坏了一个多星期，晚上很黑，老人出门很不方便，请尽快修理。"


def png_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


#: Werkzeug's spooled temporary file for a body over 500 KB that the request refuses is only
#: closed by the garbage collector; collect it inside the test and ignore that one warning.
closes_big_body = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def _collect_spooled_files() -> None:
    gc.collect()


def _counts(session: Any) -> tuple[int, int, int, int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count(Case.id))),
        session.scalar(select(func.count(CaseEvent.id))),
        session.scalar(select(func.count(CaseContact.id))),
        session.scalar(select(func.count(Attachment.id))),
        session.scalar(select(func.count(CaseFollower.id))),
    )


def _uploaded_files(app: Flask) -> list[str]:
    folder = Path(app.config["UPLOAD_DIR"])
    return sorted(os.listdir(folder)) if folder.exists() else []


def test_signed_out_resident_is_asked_to_sign_in_and_comes_back(client: FlaskClient) -> None:
    page = client.get("/cases/new")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/login?next=/cases/new" in html
    assert "/register?next=/cases/new" in html
    assert 'name="text"' not in html
    posted = client.post("/cases/new", data={"text": TEXT, "step": "submit"})
    assert posted.status_code == 401


def test_check_shows_the_engine_reading_and_writes_nothing(
    resident_client: FlaskClient, session: Any
) -> None:
    before = _counts(session)
    response = resident_client.post(
        "/cases/new", data={"text": TEXT + " 我的电话13812345678", "step": "check"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html[:2000]
    assert "What Shuzhi understood" in html
    assert "138****5678" in html  # the public (masked) text is shown
    assert 'value="submit"' in html and 'name="photos"' in html
    assert _counts(session) == before


def test_submit_files_the_case_and_confirms(
    app: Flask, resident_client: FlaskClient, session: Any, resident: Any
) -> None:
    lat, lon = POINTS["LJ-JB"]
    response = resident_client.post(
        "/cases/new",
        data={
            "text": TEXT,
            "step": "submit",
            "category": "G01-02",
            "address": "沿江路12号门口",
            "lat": str(lat),
            "lon": str(lon),
            "contact_phone": "13912345678",
            "consent": "y",
            "photos": [(io.BytesIO(png_bytes()), "lamp.png", "image/png")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    session.expire_all()
    case = session.scalar(select(Case))
    assert case is not None
    assert response.headers["Location"] == f"/cases/{case.tracking_number}/submitted"
    assert case.submitter_id == resident.id and case.channel == "web" and case.anonymous
    assert case.category is not None and case.category.code == "G01-02"
    assert case.contact is not None and case.contact.phone == "13912345678"
    assert case.contact.consent_notice_version
    assert len(case.attachments) == 1 and case.area is not None

    page = resident_client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert case.tracking_number in html
    if case.lead_department is not None:
        assert case.lead_department.name_en in html  # the English page shows English names
        assert case.due_at is not None
    else:
        assert "coordinator" in html

    # The photo is served from the public page, metadata-free, with its content type.
    detail = resident_client.get(f"/cases/{case.tracking_number}").get_data(as_text=True)
    photo_url = f"/cases/{case.tracking_number}/photos/{case.attachments[0].id}"
    assert photo_url in detail
    photo = resident_client.get(photo_url)
    try:
        assert photo.status_code == 200 and photo.mimetype == "image/png"
        assert photo.get_data()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        photo.close()
    assert resident_client.get(f"/cases/{case.tracking_number}/photos/999999").status_code == 404


def test_confirmation_page_is_for_the_submitter(
    client: FlaskClient, make_case: Any, make_user: Any
) -> None:
    case = make_case()
    other = make_user(email="other@example.test")
    sign_in(client, other.email)
    response = client.get(f"/cases/{case.tracking_number}/submitted")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/cases/{case.tracking_number}"


BIG = 30 * 1024 * 1024


@pytest.mark.parametrize(
    ("make_data", "field_message"),
    [
        (lambda: {"text": "   "}, "Please describe the problem"),
        (lambda: {"text": "路灯" * 2600}, "at most 5000 characters"),
        (
            lambda: {"photos": [(io.BytesIO(b"%PDF-1.4 not a photo"), "scan.jpg", "image/jpeg")]},
            "is not a JPEG, PNG or WebP photo",
        ),
        (
            lambda: {
                "photos": [(io.BytesIO(b"\xff\xd8\xff" + b"0" * BIG), "huge.jpg", "image/jpeg")]
            },
            "is too large",
        ),
        (
            lambda: {"lat": str(OUTSIDE_POINT[0]), "lon": str(OUTSIDE_POINT[1])},
            "outside our district",
        ),
        (lambda: {"lat": "91", "lon": "112.9"}, "between"),
        (lambda: {"lat": "abc", "lon": "112.9"}, "decimal number"),
        (lambda: {"contact_phone": "13912345678"}, "please agree"),
        (lambda: {"contact_name": "李四"}, "please agree"),
        (lambda: {"contact_phone": "call me maybe"}, "phone number"),
        (
            lambda: {
                "photos": [(io.BytesIO(png_bytes()), f"p{i}.png", "image/png") for i in range(4)]
            },
            "at most 3 photos",
        ),
    ],
    ids=[
        "empty-text",
        "oversized-text",
        "non-image",
        "30MB-photo",
        "outside-jurisdiction",
        "latitude-out-of-range",
        "latitude-not-a-number",
        "phone-without-consent",
        "name-without-consent",
        "bad-phone",
        "four-photos",
    ],
)
@closes_big_body
def test_bad_input_keeps_the_text_and_saves_nothing(
    app: Flask,
    resident_client: FlaskClient,
    session: Any,
    make_data: Any,
    field_message: str,
) -> None:
    before = _counts(session)
    form = {"text": TEXT, "step": "submit", **make_data()}
    # Closing the response also closes the test client's spooled request body.
    with resident_client.post(
        "/cases/new", data=form, content_type="multipart/form-data"
    ) as response:
        html = response.get_data(as_text=True)
    assert response.status_code == 422, html[:2000]
    assert field_message in html
    assert "<textarea" in html
    if form["text"].strip():
        assert form["text"][:200] in html  # the resident's text is kept
    assert "Traceback" not in html
    assert _counts(session) == before
    assert _uploaded_files(app) == []
    _collect_spooled_files()


@closes_big_body
def test_30mb_photo_is_refused_on_the_form_with_csrf_on(make_app: Any) -> None:
    """The intake body limit is raised before the CSRF check reads the body."""
    app = make_app(WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=False)
    with app.app_context():
        load_demo_jurisdiction(get_session())
        create_user(get_session(), email="big@example.test")
    client = in_english(app.test_client())
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post(
        "/login",
        data={
            "email": "big@example.test",
            "password": "correct-horse-battery-staple",
            "csrf_token": token,
        },
    )
    token = csrf_token_from(client.get("/cases/new").get_data(as_text=True))
    with client.post(
        "/cases/new",
        data={
            "csrf_token": token,
            "text": TEXT,
            "step": "submit",
            "photos": [(io.BytesIO(b"\xff\xd8\xff" + b"0" * BIG), "huge.jpg", "image/jpeg")],
        },
        content_type="multipart/form-data",
    ) as response:
        html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "is too large" in html and TEXT in html
    # Without the token the form is refused.
    assert client.post("/cases/new", data={"text": TEXT, "step": "submit"}).status_code == 400
    _collect_spooled_files()


@closes_big_body
def test_body_over_the_intake_limit_gets_a_friendly_413(
    app: Flask, resident_client: FlaskClient
) -> None:
    from portal.cases.views import INTAKE_MAX_BODY_BYTES

    with resident_client.post(
        "/cases/new",
        data={
            "text": TEXT,
            "photos": [(io.BytesIO(b"0" * (INTAKE_MAX_BODY_BYTES + 1)), "x.jpg", "image/jpeg")],
        },
        content_type="multipart/form-data",
    ) as response:
        html = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "too large" in html and "Traceback" not in html
    _collect_spooled_files()


def test_similar_open_case_offers_me_too(
    client: FlaskClient, session: Any, make_case: Any, make_user: Any
) -> None:
    lat, lon = POINTS["LJ-WS"]
    existing = make_case(text=TEXT, lat=lat, lon=lon)
    neighbour = make_user(email="neighbour@example.test")
    sign_in(client, neighbour.email)
    html = client.post(
        "/cases/new", data={"text": TEXT, "lat": str(lat), "lon": str(lon), "step": "check"}
    ).get_data(as_text=True)
    assert existing.tracking_number in html
    assert f"/cases/{existing.tracking_number}/follow" in html

    response = client.post(f"/cases/{existing.tracking_number}/follow")
    assert response.status_code == 302
    client.post(f"/cases/{existing.tracking_number}/follow")  # twice counts once
    session.expire_all()
    case = session.get(Case, existing.id)
    assert case.me_too_count == 1
    follower = session.scalar(
        select(CaseFollower).where(
            CaseFollower.case_id == case.id, CaseFollower.user_id == neighbour.id
        )
    )
    assert follower is not None and follower.reason == "me_too"
    page = client.get(f"/cases/{existing.tracking_number}").get_data(as_text=True)
    assert "You follow this case" in page
    mine = client.get("/my/cases").get_data(as_text=True)
    assert existing.tracking_number in mine


def test_me_too_needs_sign_in(client: FlaskClient, make_case: Any) -> None:
    case = make_case()
    response = client.post(f"/cases/{case.tracking_number}/follow")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
