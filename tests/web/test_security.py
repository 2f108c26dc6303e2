"""CSRF on every form, the login rate limit, cookie flags and security headers (own apps)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from portal import get_session
from tests.factories import DEFAULT_PASSWORD, create_user
from tests.web.conftest import csrf_token_from, in_english


def test_post_without_csrf_token_is_refused(make_app: Any) -> None:
    app = make_app(WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=False)
    with app.app_context():
        create_user(get_session(), email="csrf@example.test")
    client: FlaskClient = in_english(app.test_client())
    refused = client.post(
        "/login", data={"email": "csrf@example.test", "password": DEFAULT_PASSWORD}
    )
    assert refused.status_code == 400
    assert "Traceback" not in refused.get_data(as_text=True)
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    accepted = client.post(
        "/login",
        data={"email": "csrf@example.test", "password": DEFAULT_PASSWORD, "csrf_token": token},
    )
    assert accepted.status_code == 302
    # Signing out needs the token too.
    assert client.post("/logout").status_code == 400
    home = client.get("/").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_token_from(home)}).status_code == 302


def test_login_is_rate_limited_per_address(make_app: Any) -> None:
    app = make_app(WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=True)
    client: FlaskClient = in_english(app.test_client())
    codes = [
        client.post(
            "/login", data={"email": f"guess{i}@example.test", "password": "wrong-password"}
        ).status_code
        for i in range(11)
    ]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429
    page = client.post("/login", data={"email": "x@example.test", "password": "y" * 9})
    assert page.status_code == 429
    assert "Too many sign-in attempts" in page.get_data(as_text=True)
    # Another address is not affected; reading the form is not limited.
    other = client.post(
        "/login",
        data={"email": "z@example.test", "password": "wrong-password"},
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert other.status_code == 401
    assert client.get("/login").status_code == 200


def test_login_is_rate_limited_per_account(make_app: Any) -> None:
    app = make_app(WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=True)
    client: FlaskClient = in_english(app.test_client())
    codes = [
        client.post(
            "/login",
            data={"email": "target@example.test", "password": "wrong-password"},
            environ_base={"REMOTE_ADDR": f"10.1.{i // 250}.{i % 250}"},
        ).status_code
        for i in range(31)
    ]
    assert codes[:30] == [401] * 30
    assert codes[30] == 429


def test_session_cookie_flags_and_security_headers(make_app: Any) -> None:
    app = make_app(WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False, SESSION_COOKIE_SECURE=True)
    with app.app_context():
        create_user(get_session(), email="cookie@example.test")
    client: FlaskClient = in_english(app.test_client())
    response = client.post(
        "/login", data={"email": "cookie@example.test", "password": DEFAULT_PASSWORD}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    page = client.get("/")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_too_large_body_gets_a_friendly_page(make_app: Any) -> None:
    app = make_app(WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=False)
    client: FlaskClient = in_english(app.test_client())
    response = client.post("/login", data={"email": "a" * (app.config["MAX_CONTENT_LENGTH"] + 10)})
    assert response.status_code == 413
    body = response.get_data(as_text=True)
    assert "<html" in body and "Traceback" not in body
