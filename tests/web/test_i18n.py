"""Languages: Chinese by default, English on request (query, cookie, Accept-Language)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

#: msgid → the Chinese the zh_Hans_CN catalogue must give (the lead fills the catalogues).
EXPECTED_ZH = {
    "Report a problem": "反映问题",
    "All cases": "全部诉求",
}


@pytest.fixture
def client(make_web_app: Any) -> FlaskClient:
    """A client of an app whose requests each get their own app context.

    (The shared ``app`` fixture holds one app context for the whole test, so Flask reuses it and
    its ``g`` — where Flask-Babel caches the locale — across requests.)
    """
    return make_web_app(WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False).test_client()


def test_default_page_is_chinese(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="zh-Hans">' in html
    for msgid, chinese in EXPECTED_ZH.items():
        assert chinese in html, f"{msgid!r} is not translated to {chinese!r}"
        assert f">{msgid}<" not in html


def test_lang_query_renders_english(client: FlaskClient) -> None:
    html = client.get("/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Report a problem" in html
    assert "反映问题" not in html


def test_accept_language_english(client: FlaskClient) -> None:
    html = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in html


def test_set_language_sets_a_cookie_and_returns_safely(client: FlaskClient) -> None:
    response = client.get("/lang/en?next=/cases")
    assert response.status_code == 302 and response.headers["Location"] == "/cases"
    assert "lang=en" in response.headers["Set-Cookie"]
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)
    unsafe = client.get("/lang/zh_Hans_CN?next=https://evil.example/")
    assert unsafe.headers["Location"] == "/"
    assert '<html lang="zh-Hans">' in client.get("/").get_data(as_text=True)
    assert client.get("/lang/fr").status_code == 404
