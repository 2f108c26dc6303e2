"""Web fixtures: signing in through the real login form (apps with CSRF or rate limits on come
from ``make_app`` in tests/conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import DEFAULT_PASSWORD


def in_english(client: FlaskClient) -> FlaskClient:
    """Messages are asserted on their English msgids; Chinese is the default locale."""
    client.set_cookie("lang", "en")
    return client


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return in_english(app.test_client())


def sign_in(client: FlaskClient, email: str, password: str = DEFAULT_PASSWORD) -> Any:
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def resident(session: Any, jurisdiction: Any, make_user: Callable[..., Any]) -> Any:
    return make_user(email="resident@example.test", display_name="Resident Canary")


@pytest.fixture
def resident_client(client: FlaskClient, resident: Any) -> FlaskClient:
    """A test client signed in as ``resident`` through the login form."""
    sign_in(client, resident.email)
    return client
