"""``flask load-jurisdiction`` is audited like the admin pages: one entry per created or changed
row (actor ``cli``, the changed fields before and after, the file named as the reason), one
``settings_updated`` entry, nothing when nothing changed, nothing when the load fails."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from portal.admin.services import department_snapshot, save_department
from portal.audit.models import AuditEntry
from portal.audit.services import verify_chain
from portal.jurisdiction.models import Area, Department, RoutingRule
from portal.jurisdiction.services import read_yaml
from tests.factories import DEMO_JURISDICTION

#: The LoadReport's kinds → the audit kinds (the admin pages' names).
KINDS = {
    "areas": "area",
    "departments": "department",
    "categories": "category",
    "sla_profiles": "sla_profile",
    "routing_rules": "routing_rule",
}


def _entries(session: Any, after_id: int = 0) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(select(AuditEntry).where(AuditEntry.id > after_id).order_by(AuditEntry.id))
    )


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_first_load_audits_every_created_row(app, session) -> None:  # type: ignore[no-untyped-def]
    runner = app.test_cli_runner()
    result = runner.invoke(args=["load-jurisdiction"])
    assert result.exit_code == 0, result.output
    entries = _entries(session)
    assert {(e.actor_label, e.actor_id) for e in entries} == {("cli", None)}
    assert {e.reason for e in entries} == {"load-jurisdiction demo.yaml"}
    created = Counter(e.action for e in entries)
    for audit_kind in KINDS.values():
        assert created[f"{audit_kind}_created"] > 0
    assert created["settings_updated"] == 1
    assert sum(created.values()) == len(entries)
    assert f"{len(entries)} audit entries" in result.output
    settings = next(e for e in entries if e.action == "settings_updated")
    assert settings.before == dict.fromkeys(settings.after)
    assert settings.after["verdict_days"] == 7 and settings.after["tracking_prefix"] == "LJ"

    housing = session.scalar(select(Department).where(Department.code == "housing"))
    entry = next(
        e for e in entries if e.action == "department_created" and e.target_id == str(housing.id)
    )
    assert entry.target_type == "department" and entry.before is None
    assert entry.after == department_snapshot(housing)  # what the admin page records
    street = session.scalar(select(Area).where(Area.code == "LJ-JB"))
    entry = next(e for e in entries if e.target_type == "area" and e.target_id == str(street.id))
    assert entry.after["parent"] == "LJ" and entry.after["boundary"].startswith("5 points, sha256 ")

    again = runner.invoke(args=["load-jurisdiction"])
    assert again.exit_code == 0 and "; 0 audit entries" in again.output
    assert len(_entries(session)) == len(entries)
    assert verify_chain(session).ok


def test_changes_from_a_file_are_audited_field_by_field(
    app, session, jurisdiction, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    data = read_yaml(DEMO_JURISDICTION)
    edited = copy.deepcopy(data)
    edited["departments"][0]["name"] = "区住房和城乡建设局（新）"
    edited["departments"].append({"code": "veterans", "name": "区退役军人事务局"})
    edited["routing_rules"][0]["co_departments"] = ["urban_mgmt"]
    ring = edited["streets"][0]["boundary"]
    edited["streets"][0]["boundary"] = [*ring[:-1], [112.9, 28.19], ring[0]]
    edited["settings"]["verdict_days"] = 10
    path = _write(tmp_path, edited)
    runner = app.test_cli_runner()

    # --keep-existing: only what is missing is added, and only that is audited.
    kept = runner.invoke(args=["load-jurisdiction", "--keep-existing", str(path)])
    assert kept.exit_code == 0, kept.output
    entries = _entries(session)
    veterans = session.scalar(select(Department).where(Department.code == "veterans"))
    assert [(e.action, e.target_id) for e in entries] == [("department_created", str(veterans.id))]
    assert entries[0].reason == "load-jurisdiction district.yaml"

    updated = runner.invoke(args=["load-jurisdiction", str(path)])
    assert updated.exit_code == 0, updated.output
    new = _entries(session, entries[-1].id)
    housing = session.scalar(select(Department).where(Department.code == "housing"))
    street = session.scalar(select(Area).where(Area.code == "LJ-JB"))
    rule_data = edited["routing_rules"][0]
    rule = next(
        r
        for r in session.scalars(select(RoutingRule))
        if r.category.code == rule_data["category"]
        and (r.area.code if r.area else None) == rule_data.get("area")
    )
    by_target = {(e.action, e.target_id): e for e in new}
    assert set(by_target) == {
        ("area_updated", str(street.id)),
        ("department_updated", str(housing.id)),
        ("routing_rule_updated", str(rule.id)),
        ("settings_updated", None),
    }
    assert all(e.actor_label == "cli" for e in new)
    dept = by_target[("department_updated", str(housing.id))]
    assert (dept.before, dept.after) == (
        {"name": "区住房和城乡建设局"},
        {"name": "区住房和城乡建设局（新）"},
    )
    co = by_target[("routing_rule_updated", str(rule.id))]
    assert co.after == {"co_departments": ["urban_mgmt"]}
    assert list(co.before) == ["co_departments"]
    area = by_target[("area_updated", str(street.id))]
    assert list(area.after) == ["boundary"] and area.after["boundary"].startswith("6 points")
    assert by_target[("settings_updated", None)].before == {"verdict_days": 7}
    assert by_target[("settings_updated", None)].after == {"verdict_days": 10}

    # The admin page records the same change of the same row in the same shape.
    save_department(
        session, actor="admin-test", department=housing, code="housing", name="区住建局"
    )
    session.commit()
    admin = _entries(session, new[-1].id)
    assert [(e.action, e.target_type, e.target_id) for e in admin] == [
        ("department_updated", "department", str(housing.id))
    ]
    assert set(admin[0].after) >= set(dept.after)
    assert verify_chain(session).ok


def test_a_failed_load_writes_no_entry(app, session, jurisdiction, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = copy.deepcopy(read_yaml(DEMO_JURISDICTION))
    data["departments"][0]["name"] = "改了名字"
    data["routing_rules"].append({"category": "G99", "department": "housing", "sla": "general"})
    failed = app.test_cli_runner().invoke(args=["load-jurisdiction", str(_write(tmp_path, data))])
    assert failed.exit_code != 0 and "unknown category" in failed.output
    assert _entries(session) == []
    housing = session.scalar(select(Department).where(Department.code == "housing"))
    assert housing.name == "区住房和城乡建设局"
