"""``flask --app portal setup-demo`` and its parts: repeatable, no duplicates, clear logins."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select

from portal import create_app, get_session
from portal.accounts.models import Role, User
from portal.cli import DEMO_ACCOUNTS
from portal.jurisdiction.models import Area, Category, RoutingRule


def _app(url: str, tmp_path: Path, model_dir: Path):  # type: ignore[no-untyped-def]
    return create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "NLP_MODEL_DIR": str(model_dir),
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )


def _logins(output: str) -> dict[str, str]:
    return dict(re.findall(r"^\s+\w+\s+(\S+@\S+)\s+(\S+)", output, flags=re.MULTILINE))


def test_setup_demo_twice(empty_database: str, tmp_path: Path, model_dir: Path) -> None:
    app = _app(empty_database, tmp_path, model_dir)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["setup-demo"])
    assert first.exit_code == 0, first.output
    logins = _logins(first.output)
    assert set(logins) == {a.email for a in DEMO_ACCOUNTS}
    with app.app_context():
        session = get_session()
        counts = [
            session.scalar(select(func.count()).select_from(m))
            for m in (User, Area, Category, RoutingRule)
        ]
        roles = set(session.scalars(select(User.role)))
        staff = session.scalars(select(User).where(User.role == Role.STAFF.value)).all()
    assert roles == {r.value for r in Role}
    assert all(u.department_id is not None for u in staff)
    assert len({u.department_id for u in staff}) >= 3

    second = runner.invoke(args=["setup-demo"])
    assert second.exit_code == 0, second.output
    assert _logins(second.output) == logins  # same passwords, nothing re-created
    with app.app_context():
        session = get_session()
        assert counts == [
            session.scalar(select(func.count()).select_from(m))
            for m in (User, Area, Category, RoutingRule)
        ]
    # the printed password works
    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    email = "coordinator@linjiang.example"
    response = client.post("/login", data={"email": email, "password": logins[email]})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    app.extensions["db"].dispose()


def test_load_jurisdiction_reports_and_refuses_bad_files(app, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["load-jurisdiction"])
    assert result.exit_code == 0, result.output
    assert "routing_rules: 47 created" in result.output
    again = runner.invoke(args=["load-jurisdiction"])
    assert "0 created, 0 updated" in again.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "routing_rules:\n  - {category: G99, department: x, sla: general}\n", encoding="utf-8"
    )
    failed = runner.invoke(args=["load-jurisdiction", str(bad)])
    assert failed.exit_code != 0
    assert "unknown category" in failed.output
    assert "Traceback" not in failed.output


def test_demo_accounts_need_the_jurisdiction(app) -> None:
    result = app.test_cli_runner().invoke(args=["create-demo-accounts"])
    assert result.exit_code != 0
    assert "load-jurisdiction" in result.output


def test_ensure_model_reports_a_ready_model(app) -> None:
    result = app.test_cli_runner().invoke(args=["ensure-model"])
    assert result.exit_code == 0, result.output
    assert "ready" in result.output
