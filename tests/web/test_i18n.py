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
def client(make_app: Any) -> FlaskClient:
    """A client of an app whose requests each get their own app context.

    (The shared ``app`` fixture holds one app context for the whole test, so Flask reuses it and
    its ``g`` — where Flask-Babel caches the locale — across requests.)
    """
    return make_app(WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False).test_client()


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


def test_the_chinese_catalogue_covers_every_msgid_in_the_code(tmp_path: Any) -> None:
    """Extracts the msgids from the source as the maintainers do and checks that each has a
    Chinese translation (a string added without a translation fails here, not in production)."""
    import subprocess
    import sys
    from pathlib import Path

    from babel.messages.pofile import read_po

    from portal.config import PROJECT_ROOT

    pot = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        [str(pybabel), "extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-k", "N_",
         "-k", "lazy_pgettext:1c,2", "-o", str(pot), "."],
        cwd=PROJECT_ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with pot.open("rb") as fh:
        template = read_po(fh)
    with (PROJECT_ROOT / "locales" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        zh = read_po(fh)
    assert len(template) > 1000
    missing = [
        (m.context, m.id)
        for m in template
        if m.id
        and not (
            (t := zh.get(m.id, context=m.context)) is not None
            and (all(t.string) if isinstance(t.string, tuple) else t.string)
            and "fuzzy" not in t.flags
        )
    ]
    assert not missing, f"untranslated in zh_Hans_CN: {missing[:5]}"


def test_words_with_two_meanings_are_translated_by_context() -> None:
    from babel.support import Translations

    from portal.config import PROJECT_ROOT

    zh = Translations.load(str(PROJECT_ROOT / "locales"), ["zh_Hans_CN"])
    assert zh.pgettext("person", "Name") == "姓名" != zh.gettext("Name")
    assert zh.pgettext("proposals filter", "Active") == "进行中" != zh.gettext("Active")
    assert zh.pgettext("proposal status", "Done") == "已完成" != zh.gettext("Done")
