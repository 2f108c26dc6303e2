"""Public pages: home, the filtered list, a case page, my cases, 404s — and no personal data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.cases.models import Case
from portal.db import utcnow
from portal.jurisdiction.models import Category
from tests.factories import POINTS
from tests.web.conftest import sign_in

# Canary personal data: none of these may ever appear on a public page.
CANARY_NAME_IN_TEXT = "欧阳明月"
CANARY_MOBILE_IN_TEXT = "13812345678"
CANARY_ID_IN_TEXT = "11010519491231002X"
CANARY_CONTACT_NAME = "司马光辉"
CANARY_CONTACT_PHONE = "13987654321"
CANARY_ADDRESS = "幸福路88号3栋502室"
CANARY_LAT, CANARY_LON = "28.2217731", "112.8591337"
CANARY_DISPLAY_NAME = "Canary Display Name"
CANARY_EMAIL = "canary.resident@example.test"

CANARY_TEXT = (
    f"我叫{CANARY_NAME_IN_TEXT}，电话{CANARY_MOBILE_IN_TEXT}，身份证号{CANARY_ID_IN_TEXT}。"
    "我们小区门口的下水道堵了三天，污水漫到人行道上，气味很大，请尽快疏通。"
)
CANARIES = (
    CANARY_NAME_IN_TEXT,
    CANARY_MOBILE_IN_TEXT,
    CANARY_ID_IN_TEXT,
    CANARY_CONTACT_NAME,
    CANARY_CONTACT_PHONE,
    CANARY_ADDRESS,
    CANARY_LAT,
    CANARY_LON,
    CANARY_DISPLAY_NAME,
    CANARY_EMAIL,
)


def test_no_personal_data_on_public_pages(
    client: FlaskClient, session: Any, jurisdiction: Any, make_user: Any
) -> None:
    resident = make_user(email=CANARY_EMAIL, display_name=CANARY_DISPLAY_NAME)
    sign_in(client, resident.email)
    response = client.post(
        "/cases/new",
        data={
            "text": CANARY_TEXT,
            "step": "submit",
            "address": CANARY_ADDRESS,
            "lat": CANARY_LAT,
            "lon": CANARY_LON,
            "contact_name": CANARY_CONTACT_NAME,
            "contact_phone": CANARY_CONTACT_PHONE,
            "consent": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    case = session.scalar(select(Case))
    assert case is not None and case.contact is not None  # the data was really given
    tn = case.tracking_number
    client.post("/logout")

    pages = {
        "home": client.get("/"),
        "list": client.get("/cases"),
        "detail": client.get(f"/cases/{tn}"),
        "search-tn": client.get(f"/cases?q={tn}"),
        "search-word": client.get("/cases?q=下水道"),
    }
    for name, page in pages.items():
        html = page.get_data(as_text=True)
        assert page.status_code == 200, name
        assert tn in html, name
        for canary in CANARIES:
            assert canary not in html, f"{canary!r} leaked on the {name} page"
    # Searching for personal data finds nothing: only the masked text is searched.
    for canary in (
        CANARY_MOBILE_IN_TEXT,
        CANARY_NAME_IN_TEXT,
        CANARY_ADDRESS,
        CANARY_CONTACT_PHONE,
    ):
        found = client.get("/cases", query_string={"q": canary}).get_data(as_text=True)
        assert tn not in found, canary


def test_case_page_shows_the_public_record(client: FlaskClient, make_case: Any) -> None:
    lat, lon = POINTS["LJ-NH"]
    case = make_case(category_code="G01-02", lat=lat, lon=lon)
    html = client.get(f"/cases/{case.tracking_number}").get_data(as_text=True)
    assert case.title in html
    assert (case.category.name_en or case.category.name) in html  # English page
    assert "南湖街道" in html  # the street, not the exact place
    if case.lead_department is not None:
        assert case.lead_department.name_en in html
    assert "Submitted" in html or "提交" in html  # the timeline's first event
    assert "Sign in to follow this case" in html or "登录" in html


def test_overdue_marker(client: FlaskClient, session: Any, make_case: Any) -> None:
    case = make_case(category_code="G01-02")
    case.due_at = utcnow() - timedelta(hours=3)
    session.commit()
    assert "badge-overdue" in client.get(f"/cases/{case.tracking_number}").get_data(as_text=True)
    listing = client.get("/cases?overdue=1").get_data(as_text=True)
    assert case.tracking_number in listing and "badge-overdue" in listing


def test_unknown_tracking_number_is_a_404_page(client: FlaskClient, jurisdiction: Any) -> None:
    for path in ("/cases/LJ-0000-0000-0", "/cases/nonsense", "/cases/LJ-0000-0000-0/submitted"):
        response = client.get(path)
        assert response.status_code in (404, 302), path
        if response.status_code == 404:
            assert "<html" in response.get_data(as_text=True)
    assert client.get("/cases/LJ-0000-0000-0").status_code == 404


def test_non_public_case_is_hidden_with_a_404(
    client: FlaskClient, session: Any, make_case: Any, make_user: Any
) -> None:
    category = session.scalar(
        select(Category).where(Category.parent_id.is_not(None), Category.code.like("G15%"))
    )
    if category is None:
        pytest.skip("the demo catalogue has no G15 category")
    submitter = make_user(email="whistle@example.test")
    case = make_case(
        text="某单位工作人员办事吃拿卡要，群众反映强烈，请纪委调查。",
        category_code=category.code,
        submitter=submitter,
    )
    assert client.get(f"/cases/{case.tracking_number}").status_code == 404
    assert case.tracking_number not in client.get("/cases").get_data(as_text=True)
    assert case.tracking_number not in client.get("/").get_data(as_text=True)
    sign_in(client, submitter.email)
    assert client.get(f"/cases/{case.tracking_number}").status_code == 200
    assert case.tracking_number in client.get("/my/cases").get_data(as_text=True)


def test_list_filters_search_and_pagination(
    client: FlaskClient, session: Any, make_case: Any
) -> None:
    lamp = make_case(
        text="望山街道青松社区路灯不亮了，晚上走路看不见。",
        category_code="G01-02",
        lat=POINTS["LJ-WS"][0],
        lon=POINTS["LJ-WS"][1],
    )
    school = make_case(
        text="孩子学校的课后服务收费不透明，希望教育局管一管。",
        category_code="G04-03",
        lat=POINTS["LJ-NH"][0],
        lon=POINTS["LJ-NH"][1],
    )
    noise = make_case(
        text="新桥社区有工地夜间施工噪音很大，影响休息。",
        category_code="G02-02",
        lat=POINTS["LJ-XQ"][0],
        lon=POINTS["LJ-XQ"][1],
    )

    def listed(**query: str) -> set[str]:
        html = client.get("/cases", query_string=query).get_data(as_text=True)
        return {c.tracking_number for c in (lamp, school, noise) if c.tracking_number in html}

    everyone = {lamp.tracking_number, school.tracking_number, noise.tracking_number}
    assert listed() == everyone
    assert listed(group="G04") == {school.tracking_number}
    assert listed(category="G02-02") == {noise.tracking_number}
    assert listed(street="LJ-WS") == {lamp.tracking_number}
    assert listed(q="课后服务") == {school.tracking_number}
    assert listed(q=noise.tracking_number.lower()) == {noise.tracking_number}
    assert listed(status=lamp.status) >= {lamp.tracking_number}
    assert listed(status="closed") == set()
    assert listed(status="bogus") == everyone  # an unknown status is ignored, not an error
    if school.lead_department is not None:
        assert school.tracking_number in listed(department=school.lead_department.code)
    assert listed(q="100%_\\") == set()  # LIKE wildcards are escaped

    first = client.get("/cases?per_page=2").get_data(as_text=True)
    second = client.get("/cases?per_page=2&page=2").get_data(as_text=True)
    assert sum(tn in first for tn in everyone) == 2
    assert sum(tn in second for tn in everyone) == 1
    assert 'rel="next"' in first and 'rel="prev"' in second
    assert client.get("/cases?page=-3&per_page=100000").status_code == 200


def test_my_cases_lists_only_mine(client: FlaskClient, make_case: Any, make_user: Any) -> None:
    me = make_user(email="me@example.test")
    mine = make_case(submitter=me)
    theirs = make_case(text="公园里的健身器材坏了好久，希望修一下。")
    assert client.get("/my/cases").status_code == 302
    sign_in(client, me.email)
    html = client.get("/my/cases").get_data(as_text=True)
    assert mine.tracking_number in html and theirs.tracking_number not in html


def test_home_page_counts_and_recent_cases(client: FlaskClient, make_case: Any) -> None:
    case = make_case()
    html = client.get("/").get_data(as_text=True)
    assert case.tracking_number in html
    assert 'href="/cases/new"' in html
