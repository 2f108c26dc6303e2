"""Register, sign in and out, failed-attempt counting, safe ``next`` redirects, the account page."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.accounts.models import User
from portal.accounts.redirects import safe_next_url
from tests.factories import DEFAULT_PASSWORD
from tests.web.conftest import sign_in


def _register(client: FlaskClient, **overrides: str) -> Any:
    data = {
        "email": "new.resident@example.test",
        "display_name": "New Resident",
        "password": "a-long-password",
        "confirm": "a-long-password",
    }
    data.update(overrides)
    return client.post("/register", data=data)


def test_register_signs_in_and_hashes_the_password(client: FlaskClient, session: Any) -> None:
    response = _register(client, email="New.Resident@Example.test")
    assert response.status_code == 302
    user = session.scalar(select(User).where(User.email == "new.resident@example.test"))
    assert user is not None and user.role == "resident"
    assert user.password_hash and "a-long-password" not in user.password_hash
    page = client.get("/account")
    assert page.status_code == 200
    assert "new.resident@example.test" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"password": "short", "confirm": "short"}, "8"),
        ({"confirm": "another-password"}, "do not match"),
        ({"email": "not-an-address"}, "valid e-mail"),
        ({"display_name": ""}, "display name"),
    ],
)
def test_register_refuses_bad_input(
    client: FlaskClient, session: Any, overrides: dict[str, str], message: str
) -> None:
    response = _register(client, **overrides)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert session.scalar(select(User)) is None


def test_register_refuses_a_taken_email(client: FlaskClient, session: Any, make_user: Any) -> None:
    make_user(email="taken@example.test")
    response = _register(client, email="TAKEN@example.test")
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    assert len(session.scalars(select(User)).all()) == 1


def test_wrong_password_is_generic_counted_and_reported_after_success(
    client: FlaskClient, session: Any, make_user: Any
) -> None:
    user = make_user(email="count@example.test")
    for _ in range(2):
        response = client.post("/login", data={"email": user.email, "password": "wrong-password"})
        assert response.status_code == 401
        assert "e-mail address or the password is not correct" in response.get_data(as_text=True)
    unknown = client.post("/login", data={"email": "nobody@example.test", "password": "x" * 10})
    assert unknown.status_code == 401
    assert "e-mail address or the password is not correct" in unknown.get_data(as_text=True)
    session.expire_all()
    assert session.get(User, user.id).failed_login_count == 2

    response = client.post(
        "/login", data={"email": user.email, "password": DEFAULT_PASSWORD}, follow_redirects=True
    )
    assert "2 failed sign-in attempts" in response.get_data(as_text=True)
    session.expire_all()
    refreshed = session.get(User, user.id)
    assert refreshed.failed_login_count == 0 and refreshed.last_login_at is not None


def test_inactive_account_cannot_sign_in(client: FlaskClient, session: Any, make_user: Any) -> None:
    user = make_user(email="gone@example.test")
    user.active = False
    session.commit()
    response = client.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 401


def test_logout_is_a_post(client: FlaskClient, make_user: Any) -> None:
    user = make_user(email="out@example.test")
    sign_in(client, user.email)
    assert client.get("/logout").status_code == 405
    assert client.get("/account").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302
    after = client.get("/account")
    assert after.status_code == 302 and "/login" in after.headers["Location"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/cases?page=2", "/cases?page=2"),
        ("/my/cases", "/my/cases"),
        ("http://localhost/cases", "/cases"),
        ("https://evil.example/phish", None),
        ("//evil.example/phish", None),
        ("/\\evil.example", None),
        ("\\\\evil.example", None),
        ("javascript:alert(1)", None),
        ("cases", None),
        ("/cases\r\nSet-Cookie: x=1", None),
        ("", None),
    ],
)
def test_safe_next_url(app: Flask, target: str, expected: str | None) -> None:
    with app.test_request_context("/", base_url="http://localhost"):
        assert safe_next_url(target) == expected


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_sign_in_refuses_an_unsafe_next(client: FlaskClient, make_user: Any, target: str) -> None:
    user = make_user(email="next@example.test")
    response = client.post(
        "/login", data={"email": user.email, "password": DEFAULT_PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_sign_in_follows_a_safe_next(client: FlaskClient, make_user: Any) -> None:
    user = make_user(email="safe@example.test")
    form = client.get("/login?next=/cases/new").get_data(as_text=True)
    assert 'value="/cases/new"' in form
    response = client.post(
        "/login", data={"email": user.email, "password": DEFAULT_PASSWORD, "next": "/cases/new"}
    )
    assert response.headers["Location"] == "/cases/new"


def test_account_page_needs_sign_in_and_links_the_bot(client: FlaskClient, make_user: Any) -> None:
    response = client.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    user = make_user(email="acct@example.test")
    sign_in(client, user.email)
    page = client.get("/account").get_data(as_text=True)
    assert "acct@example.test" in page
    assert "/account/link-code" in page or "link" in page.lower()


def test_change_password(client: FlaskClient, session: Any, make_user: Any) -> None:
    user = make_user(email="pw@example.test")
    sign_in(client, user.email)
    wrong = client.post(
        "/account/password",
        data={
            "current_password": "nope-nope",
            "new_password": "brand-new-pass",
            "confirm": "brand-new-pass",
        },
    )
    assert wrong.status_code == 422
    assert "current password is not correct" in wrong.get_data(as_text=True)
    ok = client.post(
        "/account/password",
        data={
            "current_password": DEFAULT_PASSWORD,
            "new_password": "brand-new-pass",
            "confirm": "brand-new-pass",
        },
    )
    assert ok.status_code == 302
    client.post("/logout")
    sign_in(client, user.email, "brand-new-pass")


def test_account_language_preference(client: FlaskClient, session: Any, make_user: Any) -> None:
    user = make_user(email="lang@example.test")
    sign_in(client, user.email)
    response = client.post("/account/language", data={"locale": "en"})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(User, user.id).locale == "en"
    assert client.post("/account/language", data={"locale": "fr"}).status_code == 422
