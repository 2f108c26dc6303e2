"""Admin fixtures: an administrator signed in through the real login form."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.factories import DEFAULT_PASSWORD


def sign_in(client: FlaskClient, email: str) -> None:
    response = client.post("/login", data={"email": email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


@pytest.fixture
def admin(jurisdiction: Any, make_user: Any) -> Any:
    return make_user(role="admin", display_name="Admin Wang")


@pytest.fixture
def admin_client(client: FlaskClient, admin: Any) -> FlaskClient:
    """Signed in as ``admin``, pages in English (assertions read the English msgids)."""
    client.set_cookie("lang", "en")
    sign_in(client, admin.email)
    return client
