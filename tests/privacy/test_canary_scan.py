"""The canary scan: cases full of personal data come in through the web form, ``/api/v1`` (with
a Telegram resident) and Open311; then every public page, every public API and Open311 response
(JSON and XML) and every log record is searched for the canaries. None may appear."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from sqlalchemy import select

from portal.api.services import create_api_key
from portal.cases.models import Case
from tests.factories import POINTS
from tests.privacy.conftest import (
    CANARY_ADDRESS,
    CANARY_ID_NUMBER,
    CANARY_NAME,
    CANARY_PHONE,
    CANARY_TELEGRAM_ID,
    CANARY_TEXT,
)
from tests.web.conftest import sign_in

CANARIES = (CANARY_NAME, CANARY_PHONE, CANARY_ID_NUMBER, CANARY_ADDRESS, CANARY_TELEGRAM_ID)
#: Parts of the canaries that must not leak either (a phone split by the renderer, say).
FRAGMENTS = ("98765432", "19491231002", "枫林三路88号")
#: Values for route arguments. Every GET route is fetched anonymously (signed-in areas answer
#: with a redirect or 401/403/404, which is scanned too): nothing is excluded from the scan.
ARGUMENT_VALUES: dict[str, list[str]] = {"fmt": ["json", "xml"], "service_code": ["G01-02"]}
try:  # the public dashboard's charts and their CSV downloads, when the feature is installed
    from portal.oversight.views import CHARTS

    ARGUMENT_VALUES["name"] = list(CHARTS)
except ImportError:  # pragma: no cover
    pass


def _assert_clean(where: str, body: str) -> None:
    for canary in CANARIES + FRAGMENTS:
        assert canary not in body, f"{canary!r} leaked in {where}"


def _fetch(client: Any, url: str, **kwargs: Any) -> str:
    response = client.get(url, **kwargs)
    try:
        return response.get_data(as_text=True)
    finally:
        response.close()


def _public_urls(app: Any, tracking_numbers: list[str]) -> tuple[list[str], list[str]]:
    """Every GET route, arguments filled in where the value is known; the rest reported."""
    urls, skipped = [], []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or rule.endpoint == "static":
            continue
        args = set(rule.arguments)
        choices: list[dict[str, str]] = [{}]
        for arg in sorted(args):
            if arg in ("tracking_number", "service_request_id"):
                values = tracking_numbers
            elif arg in ARGUMENT_VALUES:
                values = ARGUMENT_VALUES[arg]
            else:
                values = []
            choices = [{**c, arg: v} for c in choices for v in values]
        if args and not choices:
            skipped.append(rule.rule)
            continue
        for values in choices:
            try:
                urls.append(rule.build(values, append_unknown=False)[1])
            except Exception:
                skipped.append(rule.rule)
    return sorted(set(urls)), skipped


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_canary_in_any_public_output_or_log(  # type: ignore[no-untyped-def]
    app, client, session, jurisdiction, make_user, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    lat, lon = POINTS["LJ-JB"]
    bot_key = create_api_key(session, name="bot", scopes=["channel:telegram", "cases:read"]).secret
    city_key = create_api_key(session, name="city app", scopes=["cases:submit"]).secret
    session.commit()
    bodies: list[tuple[str, str]] = []

    # 1. The web form, signed in.
    resident = make_user(display_name="居民")
    sign_in(client, resident.email)
    web = client.post(
        "/cases/new",
        data={
            "text": CANARY_TEXT,
            "step": "submit",
            "category": "G01-02",
            "address": CANARY_ADDRESS,
            "lat": str(lat),
            "lon": str(lon),
            "contact_name": CANARY_NAME,
            "contact_phone": CANARY_PHONE,
            "consent": "y",
        },
    )
    assert web.status_code == 302, web.get_data(as_text=True)[:500]
    submitted = client.get(web.headers["Location"])
    bodies.append(("web submitted page", submitted.get_data(as_text=True)))
    client.post("/logout")

    # 2. /api/v1 as the Telegram bot, for a resident known by a canary Telegram id.
    bot = {
        "Authorization": f"Bearer {bot_key}",
        "X-Shuzhi-Resident": f"telegram:{CANARY_TELEGRAM_ID}",
        "X-Shuzhi-Resident-Name": CANARY_NAME,
    }
    preview = client.post("/api/v1/preview", json={"text": CANARY_TEXT}, headers=bot)
    assert preview.status_code == 200
    bodies.append(("api preview", preview.get_data(as_text=True)))
    created = client.post(
        "/api/v1/cases",
        json={
            "text": CANARY_TEXT,
            "address": CANARY_ADDRESS,
            "lat": lat,
            "lon": lon,
            "contact_name": CANARY_NAME,
            "contact_phone": CANARY_PHONE,
            "consent": True,
        },
        headers={**bot, "Idempotency-Key": "canary-1"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    bodies.append(("api create", created.get_data(as_text=True)))
    bodies.append(
        ("api my cases", client.get("/api/v1/me/cases", headers=bot).get_data(as_text=True))
    )

    # 3. Open311, JSON and XML.
    for fmt in ("json", "xml"):
        posted = client.post(
            f"/open311/v2/requests.{fmt}",
            data={
                "api_key": city_key,
                "service_code": "G01-02",
                "description": CANARY_TEXT,
                "lat": str(lat),
                "long": str(lon),
                "address_string": CANARY_ADDRESS,
                "first_name": CANARY_NAME,
                "phone": CANARY_PHONE,
                "device_id": CANARY_ID_NUMBER,
            },
        )
        assert posted.status_code == 201, posted.get_data(as_text=True)
        bodies.append((f"open311 receipt {fmt}", posted.get_data(as_text=True)))

    cases = session.scalars(select(Case).order_by(Case.id)).all()
    assert {c.channel for c in cases} == {"web", "telegram", "open311"} and len(cases) == 4
    assert all(c.contact is not None and c.contact.phone == CANARY_PHONE for c in cases)
    numbers = [c.tracking_number for c in cases]

    # 4. Every GET route, anonymously; then the public API views of each case.
    urls, skipped = _public_urls(app, numbers)
    assert "/" in urls and "/cases" in urls and f"/cases/{numbers[0]}" in urls
    assert any(u.startswith("/open311/v2/requests.xml") for u in urls)
    queries = ["?status=assigned", "?category=G01-02", "?page=2", "?q=路灯"]
    for url in urls + [f"/cases{q}" for q in queries] + ["/open311/v2/requests.json?status=open"]:
        bodies.append((url, _fetch(client, url)))
    for number in numbers:
        for url in (f"/api/v1/cases/{number}", f"/open311/v2/requests/{number}.xml"):
            bodies.append((url, _fetch(client, url, headers=bot)))
    # 5. One level of crawling: every same-site link and image on those pages (charts, open-data
    # exports, photos, pagination) is fetched and scanned too.
    fetched = {where for where, _body in bodies}
    links = sorted(
        {
            link
            for _where, body in list(bodies)
            for link in re.findall(r'(?:href|src)="(/[^"#]*)"', body)
            if not link.startswith(("/static/", "/lang/", "/logout")) and link not in fetched
        }
    )
    for link in links:
        bodies.append((link, _fetch(client, link.replace("&amp;", "&"))))
    assert len(bodies) > 60
    for case in cases:  # the scan looked at pages that do show these cases
        assert sum(case.tracking_number in body for _where, body in bodies) >= 3
    for where, body in bodies:
        _assert_clean(where, body)
    # Not filled in: objects that do not exist here (ids of proposals, comments, photos, tokens,
    # DP releases) or not public at all, static files and the language switch.
    unfilled = [s for s in skipped if not re.search(r"<int:|<path:|<token_id>|<month>|<lang>", s)]
    assert not unfilled, f"public routes the scan cannot fill in: {unfilled}"

    # 6. Every log record of the whole journey (plus one that tries to log the phone).
    logging.getLogger("portal.cases").warning("call back %s", CANARY_PHONE)
    assert "[redacted]" in caplog.text
    _assert_clean("the logs", caplog.text)
    _assert_clean("the log records", "\n".join(str(r.msg) + str(r.args) for r in caplog.records))
