"""Support, withdraw support and follow through ``/api/v1``: the refusals each one gives (status
and ``{code, message}`` body, in the order they are checked) and what a success records."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.api.services import create_api_key
from portal.deliberation.models import Support
from tests.deliberation import test_api

api = test_api.api  # the fixture: a Telegram channel key acting for residents

RESIDENT = "telegram:777101"
BUTTONS = [("post", "support", "cases:submit"), ("delete", "support", "cases:submit")]
BUTTONS += [("post", "follow", "cases:read")]


@pytest.mark.parametrize(("method", "button", "scope"), BUTTONS)
def test_refusals(api, session, make_proposal, method, button, scope) -> None:  # type: ignore[no-untyped-def]
    proposal = make_proposal()
    reader = create_api_key(session, name="reader", scopes=["cases:read"]).secret
    session.commit()
    url = f"/proposals/{proposal.id}/{button}"

    no_resident = api(method, url)
    assert no_resident.status_code == 403
    assert no_resident.json["code"] == "resident_required"
    narrow = api(method, url, key=reader, resident=RESIDENT)
    assert narrow.status_code == 403 and narrow.json["code"] == "insufficient_scope"
    assert narrow.json["message"] == (
        f"This API key lacks the scope {scope}."
        if scope == "cases:submit"
        else "This API key may not act for telegram residents."
    )
    missing = api(method, f"/proposals/999999/{button}", resident=RESIDENT)
    assert missing.status_code == 404
    assert missing.json == {"code": "not_found", "message": "No such proposal."}


def test_support_needs_verification_and_records_the_channel(api, session, make_proposal) -> None:  # type: ignore[no-untyped-def]
    proposal = make_proposal()
    url = f"/proposals/{proposal.id}/support"
    refused = api("post", url, resident=RESIDENT)
    assert refused.status_code == 403 and refused.json["code"] == "verification_required"
    test_api._verify(session, api, RESIDENT)
    supported = api("post", url, resident=RESIDENT)
    assert supported.status_code == 200 and supported.json["supported"] is True
    assert session.scalars(select(Support.channel)).all() == ["telegram"]
    withdrawn = api("delete", url, resident=RESIDENT)
    assert withdrawn.status_code == 200 and withdrawn.json["supported"] is False
    assert withdrawn.json["support_count"] == 0
    assert withdrawn.headers["Cache-Control"] == "no-store"
