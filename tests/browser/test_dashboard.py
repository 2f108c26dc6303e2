"""The public dashboard in headless Chromium, in Chinese: every Plotly chart is drawn under the
CSP (no inline script, plotly.js from our origin), the street map shows, and a screenshot goes to
``test-output/dashboard.png``."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from portal.cases.models import Case, CaseEvent
from portal.db import Base, utcnow
from portal.jurisdiction.models import Area, Category, Department
from tests.browser.support import CHROMIUM, OUTPUT, launch, serving
from tests.factories import load_demo_jurisdiction

pytestmark = pytest.mark.browser



def _seed_cases(db: Any, n: int = 40) -> None:
    """Hand-made cases over the last two weeks across the demo streets and a few groups."""
    rng = random.Random(7)
    streets = db.scalars(select(Area).where(Area.level == "street")).all()
    categories = db.scalars(select(Category).where(Category.parent_id.is_not(None))).all()[:30]
    department = db.scalars(select(Department)).first()
    now = utcnow()
    for i in range(n):
        created = now - timedelta(days=rng.randint(0, 13), hours=rng.randint(0, 20))
        status = rng.choice(["assigned", "accepted", "accepted", "resolved", "closed"])
        case = Case(
            tracking_number=f"DB-{i:04d}",
            status=status,
            text_raw="路灯不亮",
            text_masked="路灯不亮",
            title="路灯不亮",
            category=rng.choice(categories),
            area=rng.choice(streets),
            lead_department=department,
            created_at=created,
            respond_due_at=created + timedelta(hours=24),
            due_at=created + timedelta(days=5),
        )
        db.add(case)
        db.flush()
        db.add(CaseEvent(case_id=case.id, type="submit", to_status="assigned", created_at=created))
        if status != "assigned":
            db.add(
                CaseEvent(
                    case_id=case.id,
                    type="accept",
                    to_status="accepted",
                    created_at=created + timedelta(hours=rng.randint(1, 30)),
                )
            )
        if status in {"resolved", "closed"}:
            db.add(
                CaseEvent(
                    case_id=case.id,
                    type="resolve",
                    to_status="resolved",
                    created_at=created + timedelta(hours=rng.randint(31, 150)),
                )
            )
    db.commit()


@pytest.fixture
def dashboard_server(tmp_path: Path, model_dir: Path) -> Iterator[str]:
    from portal import create_app, get_session

    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "dashboard-secret",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'dashboard.db'}",
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
        _seed_cases(db)
    with serving(app) as base:
        yield base


def test_dashboard_draws_every_chart_in_chinese(dashboard_server: str) -> None:
    if not CHROMIUM.exists():  # pragma: no cover - the CI image installs it
        pytest.skip("Debian chromium is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    OUTPUT.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_context(
                locale="zh-CN", viewport={"width": 1280, "height": 900}
            ).new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{dashboard_server}/dashboard?days=14&lang=zh_Hans_CN")
            # (a locator, not wait_for_function: a polled string predicate needs 'unsafe-eval')
            playwright.expect(page.locator(".ov-plot[data-drawn]")).to_have_count(4, timeout=30000)
            drawn = page.eval_on_selector_all(
                ".ov-plot", "els => els.map(e => e.getAttribute('data-drawn'))"
            )
            assert drawn == ["1", "1", "1", "1"], problems
            assert page.locator(".ov-plot .main-svg").count() >= 4
            map_ok = page.eval_on_selector(
                ".ov-map img", "img => img.complete && img.naturalWidth > 0"
            )
            assert map_ok
            legend = " ".join(
                page.eval_on_selector_all(
                    "#plot-cases_by_street .legendtext", "els => els.map(e => e.textContent)"
                )
            )
            assert "街道" in legend  # street names, in Chinese
            assert page.locator("html").get_attribute("lang") == "zh-Hans"
            page.screenshot(path=str(OUTPUT / "dashboard.png"), full_page=True)
            assert not [m for m in problems if "Content Security Policy" in m], problems
        finally:
            browser.close()
