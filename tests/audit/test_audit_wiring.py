"""Audit entries for sign-ins, and the ``flask audit`` commands (verify, export)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlalchemy import select, text

from portal.audit.models import AuditEntry
from portal.audit.services import record_audit
from tests.factories import DEFAULT_PASSWORD


def _actions(session: Any) -> list[tuple[str, str | None]]:
    session.expire_all()
    return [
        (e.action, e.target_id) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    ]


def test_sign_ins_and_failed_sign_ins_are_audited(
    client: Any, session: Any, make_user: Any
) -> None:
    user = make_user(role="staff", department=None)
    wrong = client.post("/login", data={"email": user.email, "password": "wrong-password!"})
    assert wrong.status_code == 401
    unknown = client.post(
        "/login", data={"email": "nobody@example.test", "password": "wrong-password!"}
    )
    assert unknown.status_code == 401
    ok = client.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert ok.status_code == 302
    assert _actions(session) == [
        ("login_failed", str(user.id)),
        ("login_failed", None),
        ("login", str(user.id)),
    ]
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert entries[0].after == {"account_known": True, "failed_login_count": 1}
    assert entries[1].after == {"account_known": False}
    assert entries[2].actor_id == user.id
    assert all(e.ip == "127.0.0.1" for e in entries)
    # The typed e-mail address of an unknown account is not kept anywhere in the log.
    assert "nobody@example.test" not in json.dumps([e.after for e in entries])


def test_cli_verify_passes_then_reports_the_tampered_entry(app: Any, session: Any) -> None:
    for i in range(3):
        record_audit(session, actor="cli", action="retention_run", after={"run": i})
    session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "3 entries verified" in result.output
    session.execute(text("UPDATE audit_entries SET action = 'moderation' WHERE id = 2"))
    session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "BROKEN at entry 2" in result.output


def test_cli_export_writes_csv_and_json_and_is_audited(
    app: Any, session: Any, tmp_path: Any
) -> None:
    record_audit(session, actor="cli", action="moderation", after={"hidden": "=cmd|' /C calc'!A0"})
    session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "export", "--format", "csv", "--since", "2000-01-01"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["action"] for r in rows] == ["moderation"]
    assert not rows[0]["after"].startswith("=")  # no spreadsheet formula injection
    out = tmp_path / "audit.json"
    result = runner.invoke(args=["audit", "export", "--format", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    exported = json.loads(out.read_text(encoding="utf-8"))
    assert [e["action"] for e in exported] == ["moderation", "export"]
    assert exported[1]["after"]["format"] == "csv" and exported[1]["actor_label"] == "cli"
    assert [a for a, _ in _actions(session)] == ["moderation", "export", "export"]
    bad = runner.invoke(args=["audit", "export", "--since", "yesterday"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
