"""``/api/v1/proposals`` and ``/api/v1/me/verification`` through the test client, as the bot uses
them (a channel key acting for Telegram residents), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from portal.accounts.models import ChannelIdentity
from portal.api.services import create_api_key, create_link_code
from portal.deliberation.models import Support
from portal.deliberation.participation import issue_verification_codes
from tests.deliberation.conftest import PROPOSAL_TEXT

RESIDENT = "telegram:777001"


@pytest.fixture
def api(client, session, jurisdiction):  # type: ignore[no-untyped-def]
    """``api("post", "/proposals", resident=..., json=...)`` with a Telegram channel key."""
    secret = create_api_key(session, name="telegram bot", scopes=["channel:telegram"]).secret
    session.commit()

    def call(
        method: str,
        path: str,
        *,
        resident: str | None = None,
        key: str | None = None,
        **kwargs: Any,
    ) -> Any:
        headers = {"Authorization": f"Bearer {key or secret}"}
        if resident:
            headers["X-Shuzhi-Resident"] = resident
        return getattr(client, method)("/api/v1" + path, headers=headers, **kwargs)

    return call


def _verify(session, api, resident: str) -> None:  # type: ignore[no-untyped-def]
    [issued] = issue_verification_codes(session, count=1, issued_by="青松社区")
    session.commit()
    response = api("post", "/me/verification", resident=resident, json={"code": issued.code})
    assert response.status_code == 200 and response.json["verification_level"] == 2


def test_bot_flow_verify_create_support_comment_follow(api, session, settings) -> None:  # type: ignore[no-untyped-def]
    settings(proposal_support_threshold=2)
    refused = api(
        "post",
        "/proposals",
        resident=RESIDENT,
        json={"title": "增设公交站点", "body": PROPOSAL_TEXT, "category_code": "G03-03"},
    )
    assert refused.status_code == 403 and refused.json["code"] == "verification_required"
    _verify(session, api, RESIDENT)
    created = api(
        "post",
        "/proposals",
        resident=RESIDENT,
        json={
            "title": "增设公交站点",
            "body": PROPOSAL_TEXT,
            "category_code": "G03-03",
            "lat": 28.240,
            "lon": 112.930,
        },
    )
    assert created.status_code == 201, created.json
    pid = created.json["id"]
    assert created.json["status"] == "open" and created.json["area"]["code"] == "LJ-WS-01"
    # Near the resident: found with a distance; far away: not found.
    near = api("get", "/proposals?lat=28.241&lon=112.931&radius_m=1500")
    assert [p["id"] for p in near.json["items"]] == [pid] and near.json["items"][0][
        "distance_m"
    ] < 1500
    assert api("get", "/proposals?lat=28.150&lon=112.925&radius_m=500").json["total"] == 0
    assert api("get", "/proposals?area=LJ-WS").json["total"] == 1
    # Support twice → one; a second verified resident fires the threshold.
    other = "telegram:777002"
    _verify(session, api, other)
    first = api("post", f"/proposals/{pid}/support", resident=RESIDENT)
    again = api("post", f"/proposals/{pid}/support", resident=RESIDENT)
    assert first.status_code == again.status_code == 200 and again.json["support_count"] == 1
    assert again.json["supported"] is True
    fired = api("post", f"/proposals/{pid}/support", resident=other)
    assert fired.json["status"] == "under_review" and fired.json["tracking_number"]
    assert fired.json["department"]["code"] == "transport"
    # Withdrawal is refused after the threshold.
    late = api("delete", f"/proposals/{pid}/support", resident=other)
    assert late.status_code == 409
    # Comments with stance, a reply, the overview and the thread.
    c1 = api(
        "post",
        f"/proposals/{pid}/comments",
        resident=RESIDENT,
        json={"body": "老人上学的孩子都需要这个站", "stance": "for"},
    )
    assert c1.status_code == 201 and c1.json["stance"] == "for"
    reply = api(
        "post",
        f"/proposals/{pid}/comments",
        resident=other,
        json={"body": "路太窄会堵车", "stance": "against", "parent_id": c1.json["id"]},
    )
    assert reply.status_code == 201 and reply.json["depth"] == 2
    bad = api("post", f"/proposals/{pid}/comments", resident=other, json={"body": "x" * 2001})
    assert bad.status_code == 422 and bad.json["code"] in ("invalid", "comment_too_long")
    thread = api("get", f"/proposals/{pid}/comments")
    assert (
        thread.json["total"] == 1
        and thread.json["items"][0]["replies"][0]["body"] == "路太窄会堵车"
    )
    detail = api("get", f"/proposals/{pid}")
    assert detail.json["overview"]["counts"] == {"for": 1, "neutral": 0, "against": 1}
    assert detail.json["overview"]["terms"]["against"]
    # Follow.
    follower = "telegram:777003"
    assert api("post", f"/proposals/{pid}/follow", resident=follower).json["following"] is True


def test_portal_and_bot_count_as_one_resident_when_linked(
    api, session, settings, make_user
) -> None:  # type: ignore[no-untyped-def]
    settings(proposal_support_threshold=10)
    portal_user = make_user(verification_level=2)
    author = make_user(verification_level=2)
    from portal.deliberation.services import create_proposal, support_proposal

    proposal = create_proposal(
        session, author=author, title="增设公交站点", body=PROPOSAL_TEXT, category_code="G03-03"
    )
    support_proposal(session, proposal=proposal, user=portal_user)
    code = create_link_code(session, user=portal_user)
    session.commit()
    linked = api("post", "/me/link", resident="telegram:555", json={"code": code})
    assert linked.status_code == 200, linked.json
    again = api("post", f"/proposals/{proposal.id}/support", resident="telegram:555")
    assert again.status_code == 200 and again.json["supported"] is True
    assert again.json["support_count"] == 1
    identities = session.scalars(
        select(ChannelIdentity).where(ChannelIdentity.channel == "telegram")
    ).all()
    assert [i.user_id for i in identities] == [portal_user.id]
    assert len(session.scalars(select(Support)).all()) == 1


def test_errors_and_scopes(api, session, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    assert api("get", "/proposals/999999").status_code == 404
    assert api("get", "/proposals?lat=91&lon=0").status_code == 422
    assert api("get", "/proposals?lat=28.2").status_code == 422
    assert api("get", "/proposals?per_page=0").status_code == 422
    assert api("post", "/proposals/1/support").status_code in (403, 404)
    read_only = create_api_key(session, name="reader", scopes=["cases:read"]).secret
    session.commit()
    assert api("get", "/proposals", key=read_only).status_code == 200
    assert api("post", "/proposals", key=read_only, json={}).status_code == 403
    assert (
        api("post", "/me/verification", resident="telegram:1", json={"code": "NOPE"}).status_code
        == 422
    )
    assert api("post", "/me/verification", resident="telegram:1", data="x").status_code == 415
