"""API keys by CLI and admin page, CSRF on those pages but not on the API, rate limits with 429."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.api.models import ApiKey
from tests.api.conftest import bearer


def _login(client, user) -> None:  # type: ignore[no-untyped-def]
    from flask import g

    g.pop("_login_user", None)  # the test app context outlives requests
    with client.session_transaction() as flask_session:
        flask_session["_user_id"] = str(user.id)
        flask_session["_fresh"] = True


def test_cli_creates_lists_and_revokes_keys(app, session) -> None:  # type: ignore[no-untyped-def]
    runner = app.test_cli_runner()
    created = runner.invoke(args=["api-key", "create", "bot", "--scope", "channel:telegram"])
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert secret.startswith("shz_")
    listed = runner.invoke(args=["api-key", "list"])
    assert (
        "bot" in listed.output
        and "channel:telegram" in listed.output
        and secret not in listed.output
    )
    client = app.test_client()
    assert client.get("/api/v1/catalogue", headers=bearer(secret)).status_code == 200
    bad_scope = runner.invoke(args=["api-key", "create", "x", "--scope", "root"])
    assert bad_scope.exit_code != 0
    revoked = runner.invoke(args=["api-key", "revoke", secret[:12]])
    assert revoked.exit_code == 0, revoked.output
    assert client.get("/api/v1/catalogue", headers=bearer(secret)).status_code == 401
    assert runner.invoke(args=["api-key", "revoke", "shz_nothere"]).exit_code != 0


def test_cli_purges_old_idempotency_records(app, session) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from portal.api.models import IdempotencyRecord
    from portal.api.services import create_api_key
    from portal.db import utcnow

    key = create_api_key(session, name="k", scopes=["cases:submit"]).api_key
    for name, age, status in [
        ("old", 10, "done"),
        ("new", 1, "done"),
        ("running", 10, "in_progress"),
    ]:
        session.add(
            IdempotencyRecord(
                api_key_id=key.id,
                key=name,
                fingerprint="f",
                status=status,
                created_at=utcnow() - timedelta(days=age),
            )
        )
    session.commit()
    result = app.test_cli_runner().invoke(args=["api-key", "purge-idempotency"])
    assert result.exit_code == 0 and "removed 1" in result.output
    session.expire_all()
    assert sorted(session.scalars(select(IdempotencyRecord.key))) == ["new", "running"]


def test_admin_page_creates_and_revokes_keys(client, session, make_user) -> None:  # type: ignore[no-untyped-def]
    _login(client, make_user(role="staff"))
    assert client.get("/admin/api-keys").status_code == 403
    _login(client, make_user(role="admin"))
    assert client.get("/admin/api-keys").status_code == 200
    page = client.post(
        "/admin/api-keys", data={"name": "city 311 app", "scopes": ["cases:submit", "cases:read"]}
    )
    assert page.status_code == 200
    secret = re.search(
        r'<code class="secret">(shz_[^<]+)</code>', page.get_data(as_text=True)
    ).group(1)
    key = session.scalar(select(ApiKey).where(ApiKey.name == "city 311 app"))
    assert key.scopes == ["cases:read", "cases:submit"] and key.hash != secret
    assert (
        client.post("/admin/api-keys", data={"name": "", "scopes": ["cases:read"]}).status_code
        == 422
    )
    revoked = client.post(f"/admin/api-keys/{key.id}/revoke")
    assert revoked.status_code == 302
    session.refresh(key)
    assert key.revoked_at is not None


@pytest.fixture
def strict_app(make_app):  # type: ignore[no-untyped-def]
    """An app with CSRF and rate limits on (the shared fixture turns both off)."""
    app = make_app(
        WTF_CSRF_ENABLED=True,
        RATELIMIT_ENABLED=True,
        API_RATE_LIMIT_PER_KEY="3/minute",
        API_RATE_LIMIT_PER_ADDRESS="6/minute",
    )
    with app.app_context():
        yield app


def _key(app, *scopes: str) -> str:  # type: ignore[no-untyped-def]
    from portal import get_session
    from portal.api.services import create_api_key

    created = create_api_key(get_session(), name="k", scopes=list(scopes))
    get_session().commit()
    return created.secret


def test_rate_limits_per_key_and_per_address(strict_app) -> None:  # type: ignore[no-untyped-def]
    client = strict_app.test_client()

    def get(path: str, address: str, secret: str | None = None):  # type: ignore[no-untyped-def]
        headers = bearer(secret) if secret else {}
        return client.get(path, headers=headers, environ_base={"REMOTE_ADDR": address})

    key = _key(strict_app, "cases:read")
    for _ in range(3):
        assert get("/api/v1/catalogue", "10.0.0.1", key).status_code == 200
    limited = get("/api/v1/catalogue", "10.0.0.1", key)
    assert limited.status_code == 429
    assert limited.json["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    # the same key from another address is still limited: the bucket is the key's
    assert get("/api/v1/catalogue", "10.0.0.9", key).status_code == 429
    # many keys from one address: each key's bucket is fresh, the address's (6) is not
    fresh = [_key(strict_app, "cases:read") for _ in range(7)]
    statuses = [get("/api/v1/catalogue", "10.0.0.2", k).status_code for k in fresh]
    assert statuses == [200] * 6 + [429]
    open311 = [get("/open311/v2/services.json", "10.0.0.3").status_code for _ in range(7)]
    assert open311 == [200] * 6 + [429]
    assert get("/open311/v2/services.json", "10.0.0.3").json[0]["code"] == 429


def test_api_is_csrf_exempt_but_admin_pages_are_not(strict_app) -> None:  # type: ignore[no-untyped-def]
    from portal import get_session
    from tests.factories import create_user

    client = strict_app.test_client()
    secret = _key(strict_app, "channel:telegram")
    response = client.post("/api/v1/notifications/ack", json={"ids": [1]}, headers=bearer(secret))
    assert response.status_code == 200  # no CSRF token needed with a key
    admin = create_user(get_session(), role="admin")
    _login(client, admin)
    assert (
        client.post("/admin/api-keys", data={"name": "x", "scopes": ["cases:read"]}).status_code
        == 400
    )
    assert client.post("/account/link-code").status_code == 400
