"""Browser journey through the case loop, with CSRF on, in headless Chromium:

coordinator triages → staff accepts, replies, resolves → the resident says "not resolved" →
the case is reopened to the same department. Screenshots go to ``test-output/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from portal.db import Base
from portal.jurisdiction.models import Category, RoutingRule
from tests.browser.support import CHROMIUM, OUTPUT, launch, serving
from tests.factories import DEFAULT_PASSWORD, create_case, create_user, load_demo_jurisdiction

pytestmark = pytest.mark.browser



@pytest.fixture
def journey_server(tmp_path: Path, model_dir: Path) -> Iterator[dict[str, Any]]:
    """The real app (CSRF on) on 127.0.0.1:0 in a thread, with the demo jurisdiction, the people
    of the journey and one case waiting in triage."""
    from portal import create_app, get_session

    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "journey-secret",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'journey.db'}",
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
        people = {
            "coordinator": create_user(db, role="coordinator", email="coordinator@example.test"),
            "staff": create_user(
                db, role="staff", department="housing", email="clerk@example.test"
            ),
            "resident": create_user(db, role="resident", email="resident@example.test"),
        }
        group = db.scalar(select(Category).where(Category.code == "G14"))
        for rule in db.scalars(select(RoutingRule).where(RoutingRule.category_id == group.id)):
            rule.active = False  # no rule → the case waits for a coordinator
        db.commit()
        case = create_case(
            db,
            text="我们小区物业三个月没有清理楼道垃圾，电梯也经常坏，物业一直不处理，请督促。",
            submitter=people["resident"],
            category_code="G14-01",
        )
        assert case.status == "triage"
        info = {
            "number": case.tracking_number,
            "case_id": case.id,
            "emails": {k: u.email for k, u in people.items()},
        }

    with serving(app) as base:
        yield {"app": app, "url": base, **info}


def _sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("form button[type=submit] >> nth=-1")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:2000]


def _case_status(app: Any, case_id: int) -> tuple[str, str | None]:
    from portal import get_session
    from portal.cases.models import Case

    with app.app_context():
        db = get_session()
        case = db.get(Case, case_id)
        return case.status, case.lead_department.code if case.lead_department else None


def test_triage_accept_reply_resolve_then_not_resolved_reopens(
    journey_server: dict[str, Any],
) -> None:
    if not CHROMIUM.exists():  # pragma: no cover - the CI image installs it
        pytest.skip("Debian chromium is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    base, number, emails, app = (
        journey_server["url"],
        journey_server["number"],
        journey_server["emails"],
        journey_server["app"],
    )
    OUTPUT.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = launch(p)
        try:
            # 1. The coordinator confirms the category: the rules send it to the housing bureau.
            coordinator = browser.new_context(locale="zh-CN").new_page()
            _sign_in(coordinator, base, emails["coordinator"])
            coordinator.goto(f"{base}/workbench/triage")
            coordinator.click(f"text={number}")
            coordinator.select_option("select[name=dispatch-category]", "G01-09")
            coordinator.screenshot(path=str(OUTPUT / "workbench-1-triage.png"), full_page=True)
            coordinator.click("#dispatch-form button[type=submit]")
            coordinator.wait_for_load_state()
            assert coordinator.locator(".flash-success").count() == 1
            assert _case_status(app, journey_server["case_id"]) == ("assigned", "housing")

            # 2. The clerk accepts, replies and resolves.
            clerk = browser.new_context(locale="zh-CN").new_page()
            _sign_in(clerk, base, emails["staff"])
            clerk.goto(f"{base}/workbench/")
            clerk.click(f"text={number}")
            clerk.click("#accept-form button[type=submit]")
            clerk.wait_for_load_state()
            assert _case_status(app, journey_server["case_id"])[0] == "accepted"
            clerk.fill(
                "textarea[name=reply-body]", "已联系物业公司，要求本周内清理楼道并维修电梯。"
            )
            clerk.click("#reply form[method=post] button[type=submit]")
            clerk.wait_for_load_state()
            clerk.fill(
                "textarea[name=resolve-summary]", "物业已清理楼道垃圾，电梯已由维保单位修复。"
            )
            clerk.screenshot(path=str(OUTPUT / "workbench-2-case.png"), full_page=True)
            clerk.click("#resolve-form button[type=submit]")
            clerk.wait_for_load_state()
            assert _case_status(app, journey_server["case_id"])[0] == "resolved"

            # 3. The resident says it is not resolved: the case goes back to the same department.
            resident = browser.new_context(locale="zh-CN").new_page()
            _sign_in(resident, base, emails["resident"])
            resident.goto(f"{base}/my/cases")
            resident.click(f"a[href='/cases/{number}/verdict']")
            resident.wait_for_load_state()
            assert "物业已清理楼道垃圾" in resident.content()
            resident.check("input[name=resolved][value=no]")
            resident.check("input[name=satisfaction][value='2']")
            resident.fill("textarea[name=comment]", "楼道还是很脏，电梯昨天又坏了。")
            resident.screenshot(path=str(OUTPUT / "workbench-3-verdict.png"), full_page=True)
            resident.click("#verdict-form button[type=submit]")
            resident.wait_for_load_state()
            assert resident.url.endswith(f"/cases/{number}")
            assert "楼道还是很脏" in resident.content()  # the reopen note on the public timeline
            resident.screenshot(path=str(OUTPUT / "workbench-4-reopened.png"), full_page=True)
            assert _case_status(app, journey_server["case_id"]) == ("assigned", "housing")

            # 4. Back in the clerk's queue, waiting to be accepted again.
            clerk.goto(f"{base}/workbench/")
            assert number in clerk.content()
        finally:
            browser.close()
