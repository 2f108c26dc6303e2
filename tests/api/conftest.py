"""Fixtures for the JSON API tests: API keys and a small client that sends them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from portal.api.services import create_api_key


@pytest.fixture
def make_api_key(session) -> Callable[..., str]:  # type: ignore[no-untyped-def]
    """``make_api_key("cases:read", ...)`` → the secret of a new committed key."""

    def make(*scopes: str, name: str = "test key") -> str:
        created = create_api_key(session, name=name, scopes=list(scopes) or ["cases:read"])
        session.commit()
        return created.secret

    return make


@pytest.fixture
def bot_key(make_api_key) -> str:  # type: ignore[no-untyped-def]
    return make_api_key("channel:telegram", name="telegram bot")


def bearer(secret: str, resident: str | None = None, **extra: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {secret}"}
    if resident:
        headers["X-Shuzhi-Resident"] = resident
    headers.update(extra)
    return headers


@pytest.fixture
def api(client, bot_key):  # type: ignore[no-untyped-def]
    """``api("post", "/cases", json=..., resident="telegram:1")`` with the bot's key."""

    def call(
        method: str,
        path: str,
        *,
        resident: str | None = None,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        all_headers = bearer(key or bot_key, resident)
        all_headers.update(headers or {})
        return getattr(client, method)("/api/v1" + path, headers=all_headers, **kwargs)

    return call
