"""Browser tests of deliberation in headless Chromium, with CSRF on:

* XSS vectors in a proposal and in comments (script tags, full-width ＜script＞, event attributes,
  ``javascript:`` links, a quote-breaking URL) never execute: no dialog opens and no element
  from the content carries a script or an event handler;
* the journey: a resident creates a proposal, two neighbours support it and comment for and
  against, the threshold fires and routes it to the transport bureau, a clerk there publishes
  the answer (its workbench page offers that form in place of "Mark resolved"), and the author
  sees it. Screenshots go to ``test-output/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.db import Base
from tests.browser.support import CHROMIUM, OUTPUT, launch, serving
from tests.factories import DEFAULT_PASSWORD, create_user, load_demo_jurisdiction

pytestmark = pytest.mark.browser

XSS_VECTORS = [
    "<script>alert('script')</script>",
    "＜script＞alert('fullwidth')＜/script＞",
    "<img src=x onerror=\"alert('img')\">",
    "<svg onload=alert('svg')>",
    "<a href=\"javascript:alert('anchor')\">点我看详情</a> javascript:alert('bare')",
    'https://example.org/"onmouseover="alert(\'url\')" 这个链接',
]


@pytest.fixture
def server(tmp_path: Path, model_dir: Path) -> Iterator[dict[str, Any]]:
    """The real app (CSRF on) on 127.0.0.1:0 in a thread, with the demo jurisdiction, a support
    threshold of 2 and the people of the journey."""
    from portal import create_app, get_session
    from portal.jurisdiction.services import set_setting

    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "deliberation-secret",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'deliberation.db'}",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "NLP_MODEL_DIR": str(model_dir),
            "RATELIMIT_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    with app.app_context():
        db = get_session()
        Base.metadata.create_all(db.get_bind())
        load_demo_jurisdiction(db)
        set_setting(db, "proposal_support_threshold", 2)
        emails = {}
        for key, role, department in (
            ("author", "resident", None),
            ("neighbour_for", "resident", None),
            ("neighbour_against", "resident", None),
            ("clerk", "staff", "transport"),
        ):
            user = create_user(
                db,
                role=role,
                department=department,
                email=f"{key}@example.test",
                display_name={
                    "author": "王阿姨",
                    "neighbour_for": "李师傅",
                    "neighbour_against": "张老师",
                    "clerk": "交通局小陈",
                }[key],
                verification_level=2,
            )
            emails[key] = user.email
        db.commit()
    with serving(app) as base:
        yield {"app": app, "url": base, "emails": emails}


def _sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("form button[type=submit] >> nth=-1")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:2000]


def _create_proposal(page: Any, base: str, title: str, body: str) -> str:
    page.goto(f"{base}/proposals/new")
    page.fill("input[name=title]", title)
    page.fill("textarea[name=body]", body)
    page.select_option("select[name=category_code]", "G03-03")
    page.select_option("select[name=area_code]", "LJ-WS-01")
    page.click("form.card button[type=submit]")
    page.wait_for_load_state()
    assert "/proposals/" in page.url and page.url.rstrip("/").split("/")[-1].isdigit(), page.url
    return str(page.url)


def _comment(page: Any, body: str, stance: str) -> None:
    form = page.locator("#thread form.comment-form").first
    form.locator("textarea[name=body]").fill(body)
    form.locator("select[name=stance]").select_option(stance)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def _require_browser() -> Any:
    if not CHROMIUM.exists():  # pragma: no cover - the CI image installs it
        pytest.skip("Debian chromium is not installed")
    return pytest.importorskip("playwright.sync_api")


def test_xss_vectors_never_execute(server: dict[str, Any]) -> None:
    playwright = _require_browser()
    base, emails = server["url"], server["emails"]
    OUTPUT.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_context(locale="zh-CN").new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            _sign_in(page, base, emails["author"])
            url = _create_proposal(
                page,
                base,
                "<script>alert('title')</script>公交站",
                "建议增设公交站。" + " ".join(XSS_VECTORS),
            )
            for vector in XSS_VECTORS:
                _comment(page, vector, "neutral")
            page.goto(url)
            page.wait_for_load_state()
            # Every comment is on the page, as text.
            assert page.locator("#thread .comment").count() == len(XSS_VECTORS)
            assert "alert('script')" in page.inner_text("#thread")
            # Hover and click every link that came from content.
            for link in page.locator("#thread .body a, .proposal .body a").all():
                link.hover()
            page.screenshot(path=str(OUTPUT / "deliberation-xss.png"), full_page=True)
            scripts = page.evaluate(
                "Array.from(document.querySelectorAll('script')).map(s => s.outerHTML)"
            )
            assert scripts == [], scripts
            handlers = page.evaluate(
                """Array.from(document.querySelectorAll('*')).flatMap(el =>
                    Array.from(el.attributes).filter(a => a.name.startsWith('on')).map(a => el.tagName + ' ' + a.name))"""
            )
            assert handlers == [], handlers
            hrefs = page.evaluate(
                "Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))"
            )
            assert not [h for h in hrefs if h.strip().lower().startswith("javascript")], hrefs
            assert page.locator("img, svg").count() == 0
            page.wait_for_timeout(300)
            assert dialogs == [], dialogs
        finally:
            browser.close()


def _proposal_state(app: Any, proposal_id: int) -> tuple[str, int, str | None]:
    from portal import get_session
    from portal.deliberation.models import Proposal

    with app.app_context():
        db = get_session()
        proposal = db.get(Proposal, proposal_id)
        department = (
            proposal.case.lead_department.code
            if proposal.case and proposal.case.lead_department
            else None
        )
        return proposal.status, proposal.support_count, department


def _case_number(app: Any, proposal_id: int) -> str:
    from portal import get_session
    from portal.deliberation.models import Proposal

    with app.app_context():
        proposal = get_session().get(Proposal, proposal_id)
        assert proposal.case is not None
        return proposal.case.tracking_number


def test_journey_threshold_answer_seen_by_author(server: dict[str, Any]) -> None:
    playwright = _require_browser()
    base, emails, app = server["url"], server["emails"], server["app"]
    OUTPUT.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = launch(p)
        try:
            # 1. The author publishes a proposal.
            author = browser.new_context(locale="zh-CN").new_page()
            _sign_in(author, base, emails["author"])
            url = _create_proposal(
                author,
                base,
                "青松社区东门增设公交站",
                "青松社区东门附近没有公交站，老人和学生要走二十分钟到最近的站点，建议增设一个站点。",
            )
            proposal_id = int(url.rstrip("/").split("/")[-1])
            author.screenshot(path=str(OUTPUT / "deliberation-1-proposal.png"), full_page=True)
            assert _proposal_state(app, proposal_id) == ("open", 0, None)

            # 2. Two neighbours comment for and against and support it; the second fires it.
            for key, stance, text in (
                ("neighbour_for", "for", "支持！孩子上学和老人看病都方便多了，公交站很有必要。"),
                (
                    "neighbour_against",
                    "against",
                    "东门路太窄，设站会造成早高峰拥堵，建议改在北门。",
                ),
            ):
                page = browser.new_context(locale="zh-CN").new_page()
                _sign_in(page, base, emails[key])
                page.goto(url)
                _comment(page, text, stance)
                page.click("#support-button")
                page.wait_for_load_state()
                assert page.locator(".supported").count() == 1
            status, supports, department = _proposal_state(app, proposal_id)
            assert (status, supports, department) == ("under_review", 2, "transport")
            page.goto(url)
            assert page.locator(".count-for").inner_text() == "1"
            assert page.locator(".count-against").inner_text() == "1"
            page.screenshot(path=str(OUTPUT / "deliberation-2-threshold.png"), full_page=True)

            # 3. The transport bureau's clerk answers on the proposal page.
            clerk = browser.new_context(locale="zh-CN").new_page()
            _sign_in(clerk, base, emails["clerk"])
            # In the workbench the case offers the answer form, not "Mark resolved".
            clerk.goto(f"{base}/workbench/cases/{_case_number(app, proposal_id)}")
            assert clerk.locator("#answer-form select[name=answer-outcome]").count() == 1
            assert clerk.locator("#resolve-form").count() == 0
            clerk.screenshot(path=str(OUTPUT / "deliberation-3-workbench.png"), full_page=True)
            clerk.goto(url)
            clerk.select_option("select[name=outcome]", "partly_accepted")
            clerk.fill(
                "textarea[name=answer]",
                "同意在东门增设临时停靠站，高峰时段加密班次；正式站点纳入明年规划。",
            )
            clerk.fill(
                "textarea[name=reasons]", "东门路宽不足以设港湾式车站，临时停靠站可兼顾通行。"
            )
            clerk.screenshot(path=str(OUTPUT / "deliberation-3-answer-form.png"), full_page=True)
            clerk.click("#department button[type=submit]")
            clerk.wait_for_load_state()
            assert _proposal_state(app, proposal_id)[0] == "answered"

            # 4. The author sees the answer and its reasons.
            author.goto(url)
            answer = author.locator("#answer")
            assert "同意在东门增设临时停靠站" in answer.inner_text()
            assert "东门路宽不足" in answer.inner_text()
            author.screenshot(path=str(OUTPUT / "deliberation-4-answer.png"), full_page=True)
        finally:
            browser.close()
