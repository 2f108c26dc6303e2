"""The JSON API end to end through the Flask test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image
from sqlalchemy import func, select

from portal.accounts.models import ChannelIdentity, User
from portal.api.models import ApiKey, IdempotencyRecord
from portal.api.services import create_link_code, revoke_api_key
from portal.cases.models import Case, Notification
from portal.cases.status import transition
from portal.privacy.crypto import identity_lookup_hash
from tests.api.conftest import bearer

TEXT = "小区门口的路灯坏了一个多星期，晚上很黑，老人出门不方便，请尽快修理。"
RESIDENT = "telegram:424242"


def _count_cases(session) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def _resolve(session, case: Case) -> None:  # type: ignore[no-untyped-def]
    """Move a case to ``resolved`` through the lifecycle (as staff would)."""
    session.refresh(case)
    if case.status == "triage":
        transition(session, case, "dispatch", actor=None, actor_role="coordinator")
    transition(session, case, "accept", actor=None, actor_role="staff")
    transition(session, case, "resolve", actor=None, actor_role="staff", note="路灯已更换。")
    session.commit()


# --- authentication, scopes and errors ------------------------------------------------------


def test_missing_unknown_and_revoked_keys_get_401(client, session, make_api_key) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/catalogue")
    assert response.status_code == 401
    assert response.json["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/catalogue", headers=bearer("shz_nottherightkey")).status_code == 401
    secret = make_api_key("cases:read")
    assert client.get("/api/v1/catalogue", headers=bearer(secret)).status_code == 200
    revoke_api_key(session, prefix=secret[:12])
    session.commit()
    revoked = client.get("/api/v1/catalogue", headers=bearer(secret))
    assert revoked.status_code == 401
    assert set(revoked.json) == {"code", "message"}


def test_keys_are_stored_hashed(session, make_api_key) -> None:  # type: ignore[no-untyped-def]
    secret = make_api_key("cases:read")
    key = session.scalar(select(ApiKey))
    assert secret not in (key.hash, key.prefix)
    assert len(key.hash) == 64 and secret.startswith(key.prefix)


def test_scopes_are_enforced(api, make_api_key, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    reader = make_api_key("cases:read")
    response = api("post", "/cases", key=reader, json={"text": TEXT})
    assert response.status_code == 403
    assert response.json["code"] == "insufficient_scope"
    submitter = make_api_key("cases:submit")
    acting = api("post", "/cases", key=submitter, json={"text": TEXT}, resident=RESIDENT)
    assert acting.status_code == 403  # only a channel key may act for a resident
    assert api("get", "/me/cases", key=submitter).status_code == 403
    assert api("get", "/notifications?channel=telegram", key=submitter).status_code == 403


def test_bad_input_gets_json_errors_never_500(api, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    not_json = api(
        "post", "/cases", data="text=hello", content_type="application/x-www-form-urlencoded"
    )
    assert not_json.status_code == 415 and not_json.json["code"]
    broken = api("post", "/cases", data="{not json", content_type="application/json")
    assert broken.status_code == 400
    for body, field in [
        ({}, "text"),
        ({"text": "   "}, "text"),
        ({"text": TEXT, "lat": "north"}, "lat"),
        ({"text": TEXT, "lat": 91, "lon": 0}, "lat"),
        ({"text": TEXT, "lat": True}, "lat"),
        ({"text": TEXT, "kind": "rant"}, "kind"),
        (
            {
                "text": TEXT,
                "photos": [
                    {"filename": "a.jpg", "content_type": "image/jpeg", "data_base64": "%%%"}
                ],
            },
            "photos",
        ),
        ([1, 2], "body"),
    ]:
        response = api("post", "/cases", json=body)
        assert response.status_code == 422, (field, response.json)
        assert response.json["code"] and response.json["message"]
        assert response.json.get("field") == field, response.json
    assert api("get", "/cases/LJ-NOPE-1").status_code == 404
    assert api("get", "/me/cases?page=abc", resident=RESIDENT).status_code == 422
    assert api("get", "/me/cases?page=²", resident=RESIDENT).status_code == 422
    assert api("get", "/cases", resident=RESIDENT).status_code == 405
    assert api("get", "/me/cases", resident="telegram:abc").status_code == 422


def test_request_too_large_is_413(api, app, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    from portal.api.views import body_limit

    with app.test_request_context():
        big = "x" * (body_limit() + 10)
    response = api(
        "post", "/cases", data=json.dumps({"text": big}), content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json["code"]


# --- catalogue, preview, submission, look-up ------------------------------------------------


def test_catalogue_lists_groups_and_categories(api, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    response = api("get", "/catalogue")
    assert response.status_code == 200
    groups = response.json["groups"]
    assert groups and all({"code", "name", "name_en", "categories"} <= set(g) for g in groups)
    codes = {c["code"] for g in groups for c in g["categories"]}
    assert "G01-02" in codes


def test_preview_classifies_without_saving(api, session, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    response = api(
        "post",
        "/preview",
        json={"text": TEXT + " 我的电话13812345678", "lat": 28.222, "lon": 112.86},
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert {
        "kind",
        "group",
        "category",
        "department",
        "urgency",
        "priority",
        "confidence",
        "explanation",
        "masked_text",
        "similar",
    } <= set(body)
    assert "13812345678" not in body["masked_text"]
    assert 0 <= body["confidence"] <= 1
    assert _count_cases(session) == 0


def test_submit_then_get_public_view(api, session, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, "PNG")
    response = api(
        "post",
        "/cases",
        json={
            "text": TEXT + " 联系我13812345678",
            "lat": 28.222,
            "lon": 112.86,
            "contact_name": "王女士",
            "contact_phone": "13812345678",
            "consent": True,
            "photos": [
                {
                    "filename": "lamp.png",
                    "content_type": "image/png",
                    "data_base64": base64.b64encode(png.getvalue()).decode(),
                }
            ],
        },
        resident=RESIDENT,
        headers={"X-Shuzhi-Resident-Name": "%E7%8E%8B%E5%A5%B3%E5%A3%AB"},
    )
    assert response.status_code == 201, response.json
    view = response.json
    assert view["tracking_number"] and view["status"] in ("triage", "assigned")
    assert view["url"].endswith("/cases/" + view["tracking_number"])
    assert "13812345678" not in json.dumps(view, ensure_ascii=False)
    assert "王女士" not in json.dumps(view, ensure_ascii=False)
    assert len(view["photos"]) == 1 and view["photos"][0]["url"].startswith("http")
    got = api("get", f"/cases/{view['tracking_number']}")
    assert got.status_code == 200
    assert got.json["tracking_number"] == view["tracking_number"]
    assert got.json["timeline"][0]["type"] == "submit"
    identity = session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.external_id_hash == identity_lookup_hash("telegram", "424242")
        )
    )
    assert identity is not None and identity.user.display_name == "王女士"
    case = session.scalar(select(Case))
    assert case.submitter_id == identity.user_id and case.channel == "telegram"


def test_my_cases_are_paginated(api, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):
        assert (
            api(
                "post", "/cases", json={"text": f"{TEXT} 第{n}次反映"}, resident=RESIDENT
            ).status_code
            == 201
        )
    api("post", "/cases", json={"text": TEXT}, resident="telegram:99")  # someone else
    page = api("get", "/me/cases?per_page=2", resident=RESIDENT).json
    assert (page["total"], page["pages"], len(page["items"])) == (3, 2, 2)
    second = api("get", "/me/cases?per_page=2&page=2", resident=RESIDENT).json
    assert len(second["items"]) == 1
    numbers = {c["tracking_number"] for c in page["items"] + second["items"]}
    assert len(numbers) == 3


def test_follow_counts_me_too_once(api, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    created = api("post", "/cases", json={"text": TEXT}, resident=RESIDENT).json
    number = created["tracking_number"]
    for _ in range(2):
        followed = api("post", f"/cases/{number}/follow", resident="telegram:777")
        assert followed.status_code == 200
    assert followed.json["me_too_count"] == 1
    via_submit = api(
        "post",
        "/cases",
        json={"text": TEXT, "follow_tracking_number": number},
        resident="telegram:778",
    )
    assert via_submit.status_code == 200 and via_submit.json["me_too_count"] == 2
    assert api("post", "/cases/LJ-NOPE/follow", resident="telegram:777").status_code == 404
    mine = api("get", "/me/cases", resident="telegram:777").json
    assert [c["tracking_number"] for c in mine["items"]] == [number]


def test_verdict_closes_a_resolved_case(api, session, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    number = api("post", "/cases", json={"text": TEXT}, resident=RESIDENT).json["tracking_number"]
    early = api(
        "post",
        f"/cases/{number}/verdict",
        json={"resolved": True, "satisfaction": 5},
        resident=RESIDENT,
    )
    assert early.status_code == 409  # not resolved yet
    _resolve(session, session.scalar(select(Case).where(Case.tracking_number == number)))
    stranger = api(
        "post",
        f"/cases/{number}/verdict",
        json={"resolved": True, "satisfaction": 5},
        resident="telegram:1",
    )
    assert stranger.status_code == 403
    bad = api(
        "post",
        f"/cases/{number}/verdict",
        json={"resolved": True, "satisfaction": 9},
        resident=RESIDENT,
    )
    assert bad.status_code == 422
    done = api(
        "post",
        f"/cases/{number}/verdict",
        json={"resolved": True, "satisfaction": 4, "comment": "修好了"},
        resident=RESIDENT,
    )
    assert done.status_code == 200, done.json
    assert done.json["status"] == "closed"


# --- notifications feed ---------------------------------------------------------------------


def test_notifications_feed_and_idempotent_ack(api, session, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    number = api("post", "/cases", json={"text": TEXT}, resident=RESIDENT).json["tracking_number"]
    _resolve(session, session.scalar(select(Case).where(Case.tracking_number == number)))
    feed = api("get", "/notifications?channel=telegram&limit=2")
    assert feed.status_code == 200
    items = feed.json["items"]
    assert len(items) == 2 and items[0]["id"] < items[1]["id"]
    assert all(i["recipient"] == RESIDENT and i["tracking_number"] == number for i in items)
    rest = api("get", f"/notifications?channel=telegram&after={feed.json['next_cursor']}").json[
        "items"
    ]
    kinds = [i["kind"] for i in items + rest]
    assert "verdict_request" in kinds and kinds.count("status_changed") >= 2
    assert all(i["status_label"] for i in items + rest if i["status"])
    assert all(i["locale"] == "zh_Hans_CN" for i in items + rest)
    ids = [i["id"] for i in items + rest]
    assert api("post", "/notifications/ack", json={"ids": ids}).json == {"acked": len(ids)}
    assert api("post", "/notifications/ack", json={"ids": ids}).json == {"acked": len(ids)}
    assert api("get", "/notifications?channel=telegram").json["items"] == []
    session.expire_all()
    assert session.scalar(select(func.count()).where(Notification.acked_at.is_(None))) == 0
    assert api("post", "/notifications/ack", json={"ids": ["x"]}).status_code == 422


# --- idempotency ----------------------------------------------------------------------------


def test_idempotency_replays_rejects_and_conflicts(api, session, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    headers = {"Idempotency-Key": "retry-1"}
    first = api(
        "post",
        "/cases",
        json={"text": TEXT, "lat": 28.222, "lon": 112.86},
        resident=RESIDENT,
        headers=headers,
    )
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    # the same payload with other key order and spacing is the same request
    again = api(
        "post",
        "/cases",
        data='{"lon": 112.86,  "lat": 28.222, "text": ' + json.dumps(TEXT) + "}",
        content_type="application/json",
        resident=RESIDENT,
        headers=headers,
    )
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    changed = api("post", "/cases", json={"text": TEXT + "!"}, resident=RESIDENT, headers=headers)
    assert changed.status_code == 422
    assert changed.json["code"] == "idempotency_key_reused"
    other_resident = api(
        "post",
        "/cases",
        json={"text": TEXT, "lat": 28.222, "lon": 112.86},
        resident="telegram:5",
        headers=headers,
    )
    assert other_resident.status_code == 422
    assert _count_cases(session) == 1
    # a claim still in progress (another worker) → 409, and nothing is created
    key_id = session.scalar(select(ApiKey.id))
    from portal.api.services import request_fingerprint
    from portal.db import utcnow

    body = json.dumps({"text": TEXT}).encode()
    session.add(
        IdempotencyRecord(
            api_key_id=key_id,
            key="busy",
            status="in_progress",
            created_at=utcnow(),
            fingerprint=request_fingerprint("POST", "/api/v1/cases", RESIDENT, body),
        )
    )
    session.commit()
    busy = api(
        "post",
        "/cases",
        data=body,
        content_type="application/json",
        resident=RESIDENT,
        headers={"Idempotency-Key": "busy"},
    )
    assert busy.status_code == 409
    assert _count_cases(session) == 1


def test_idempotent_validation_error_is_replayed(api, session, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    headers = {"Idempotency-Key": "bad-1"}
    first = api("post", "/cases", json={"text": TEXT, "category_code": "NOPE"}, headers=headers)
    assert first.status_code == 422
    second = api("post", "/cases", json={"text": TEXT, "category_code": "NOPE"}, headers=headers)
    assert (second.status_code, second.json) == (422, first.json)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert (
        api("post", "/cases", json={"text": TEXT}, headers={"Idempotency-Key": " "}).status_code
        == 422
    )


# --- linking a channel identity to a portal account -----------------------------------------


def test_link_code_moves_identity_and_cases(api, session, make_user, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    number = api("post", "/cases", json={"text": TEXT}, resident=RESIDENT).json["tracking_number"]
    account = make_user(display_name="Wang")
    code = create_link_code(session, user=account)
    session.commit()
    assert api("post", "/me/link", json={"code": "WRONG123"}, resident=RESIDENT).status_code == 422
    linked = api(
        "post", "/me/link", json={"code": code.lower()[:4] + "-" + code[4:]}, resident=RESIDENT
    )
    assert linked.status_code == 200, linked.json
    assert linked.json == {"linked": True, "display_name": "Wang"}
    reused = api("post", "/me/link", json={"code": code}, resident=RESIDENT)
    assert reused.status_code == 422
    session.expire_all()
    identity = session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.external_id_hash == identity_lookup_hash("telegram", "424242")
        )
    )
    assert identity.user_id == account.id
    case = session.scalar(select(Case).where(Case.tracking_number == number))
    assert case.submitter_id == account.id
    mine = api("get", "/me/cases", resident=RESIDENT).json
    assert [c["tracking_number"] for c in mine["items"]] == [number]
    orphans = session.scalars(select(User).where(User.active.is_(False))).all()
    assert len(orphans) == 1


def test_link_code_page_requires_login_and_shows_a_code(client, session, make_user) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/account/link-code").status_code in (302, 401)
    from flask import g

    g.pop("_login_user", None)  # the test app context outlives requests; forget the anonymous user
    user = make_user()
    with client.session_transaction() as flask_session:
        flask_session["_user_id"] = str(user.id)
        flask_session["_fresh"] = True
    assert client.get("/account/link-code").status_code == 200
    page = client.post("/account/link-code")
    assert page.status_code == 200
    import re

    code = re.search(r'class="link-code"><code>([A-Z0-9]{8})</code>', page.get_data(as_text=True))
    assert code is not None


# --- OpenAPI document -----------------------------------------------------------------------


def test_openapi_document_is_public_and_complete(client) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/api/v1/openapi.json")
    assert doc.status_code == 200
    assert doc.json["openapi"].startswith("3.1")
    paths = set(doc.json["paths"])
    assert {
        "/catalogue",
        "/preview",
        "/cases",
        "/cases/{tracking_number}",
        "/me/cases",
        "/cases/{tracking_number}/verdict",
        "/cases/{tracking_number}/follow",
        "/notifications",
        "/notifications/ack",
        "/me/link",
    } <= paths


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/cases/x/y/z"])
def test_unknown_api_paths_are_json_404(client, path: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.status_code == 404 and response.json["code"]


def test_notifications_carry_the_residents_language(api, session, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    number = api(
        "post",
        "/cases",
        json={"text": TEXT},
        resident="telegram:55",
        headers={"Accept-Language": "en-GB,en;q=0.9"},
    ).json["tracking_number"]
    _resolve(session, session.scalar(select(Case).where(Case.tracking_number == number)))
    items = api("get", "/notifications?channel=telegram").json["items"]
    resolved = next(i for i in items if i["status"] == "resolved" and i["kind"] == "status_changed")
    assert resolved["locale"] == "en"
    assert resolved["status_label"] == "Resolved, waiting for the resident's rating"
