"""A resident's journey in headless Chromium (CSRF and rate limits on, Chinese pages):

register → report a problem in Chinese → check what Shuzhi understood → submit → see the
tracking number → find the case on the public list → open its public page. Screenshots go to
``test-output/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.db import Base
from tests.browser.support import CHROMIUM, OUTPUT, launch, serving
from tests.factories import POINTS, load_demo_jurisdiction

pytestmark = pytest.mark.browser

IN_CI = os.environ.get("CI", "").lower() == "true"
COMPLAINT = (
    "望山街道青松社区3栋楼下的下水道堵塞已经一个星期了，污水漫到人行道上，气味很大，"
    "老人小孩出门都要绕路，请有关部门尽快疏通。"
)


@pytest.fixture
def resident_server(tmp_path: Path, model_dir: Path) -> Iterator[dict[str, Any]]:
    """The real app (CSRF and login rate limit on) on 127.0.0.1:0 in a thread, SQLite file,
    the demo jurisdiction and the default model."""
    from portal import create_app, get_session

    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "resident-journey-secret",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'resident.db'}",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "NLP_MODEL_DIR": str(model_dir),
            "WTF_CSRF_ENABLED": True,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    with app.app_context():
        db = get_session()
        Base.metadata.create_all(db.get_bind())
        load_demo_jurisdiction(db)
    with serving(app) as base:
        yield {"app": app, "url": base}


def test_resident_reports_a_problem_and_finds_it_in_public(
    resident_server: dict[str, Any],
) -> None:
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail("CI must install Debian's chromium for the browser journey")
        pytest.skip("Debian chromium is not installed (apt-get install chromium fonts-wqy-microhei)")
    playwright = pytest.importorskip("playwright.sync_api")
    base = resident_server["url"]
    OUTPUT.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_context(
                locale="zh-CN", viewport={"width": 1200, "height": 900}
            ).new_page()
            # The report button asks a signed-out visitor to sign in or register first.
            page.goto(base + "/")
            page.click("a.btn-big")
            page.click(".card a.btn-secondary")  # register, coming back to the form
            page.fill("input[name=email]", "liu.resident@example.test")
            page.fill("input[name=display_name]", "刘阿姨")
            page.fill("input[name=password]", "a-long-password")
            page.fill("input[name=confirm]", "a-long-password")
            page.click("form button[type=submit]")
            page.wait_for_load_state()
            assert page.url.endswith("/cases/new"), page.url

            # Step 1: describe and check.
            lat, lon = POINTS["LJ-WS"]
            page.fill("textarea[name=text]", COMPLAINT)
            page.fill("input[name=address]", "青松社区3栋")
            page.fill("input[name=lat]", str(lat))
            page.fill("input[name=lon]", str(lon))
            page.click("button[value=check]")
            page.wait_for_load_state()
            assert page.locator(".preview").count() == 1, page.content()[:3000]
            assert page.locator("textarea[name=text]").input_value() == COMPLAINT
            page.screenshot(path=str(OUTPUT / "resident-1-check.png"), full_page=True)

            # Step 2: contact details with consent, then submit.
            page.fill("input[name=contact_phone]", "13912345678")
            page.check("input[name=consent]")
            page.click("button[value=submit]")
            page.wait_for_load_state()
            number_box = page.locator(".tracking-number")
            assert number_box.count() == 1, page.content()[:3000]
            number = number_box.inner_text().strip()
            assert number
            page.screenshot(path=str(OUTPUT / "resident-2-confirmation.png"), full_page=True)

            # Anyone finds it on the public list by its number and opens the public page.
            visitor = browser.new_context(
                locale="zh-CN", viewport={"width": 1200, "height": 900}
            ).new_page()
            visitor.goto(base + "/cases")
            visitor.fill("input[name=q]", number)
            visitor.click("form.filters button[type=submit]")
            visitor.wait_for_load_state()
            visitor.click(f"a.tn:text('{number}')")
            visitor.wait_for_load_state()
            assert visitor.url.endswith(f"/cases/{number}")
            html = visitor.content()
            assert "下水道堵塞" in html
            assert "13912345678" not in html and "青松社区3栋" not in html
            assert "刘阿姨" not in html and "liu.resident@example.test" not in html
            visitor.screenshot(path=str(OUTPUT / "resident-3-public-page.png"), full_page=True)
            visitor.goto(base + "/")
            assert number in visitor.content()
            visitor.screenshot(path=str(OUTPUT / "resident-4-home.png"), full_page=True)
        finally:
            browser.close()
