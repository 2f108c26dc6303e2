"""Web fixtures: signing in through the real login form, and apps with CSRF or rate limits on."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.models import Base
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


@pytest.fixture
def make_web_app(tmp_path: Path, model_dir: Path) -> Iterator[Callable[..., Flask]]:
    """An app on a fresh SQLite file with chosen settings (CSRF and rate limits on by default)."""
    from portal import create_app
    from portal.db import make_engine

    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        url = f"sqlite:///{tmp_path / f'web{len(apps)}.db'}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        config = {
            "ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(tmp_path / f"instance{len(apps)}"),
            "NLP_MODEL_DIR": str(model_dir),
            "WTF_CSRF_ENABLED": True,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["db"].dispose()
