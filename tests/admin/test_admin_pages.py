"""Admin pages: administrators only, every edit validated, audited and effective at once."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.accounts.models import User
from portal.audit.models import AuditEntry
from portal.audit.services import verify_chain
from portal.jurisdiction.models import Area, Category, Department, RoutingRule, SlaProfile
from portal.jurisdiction.services import get_setting
from portal.workbench.models import ResponseTemplate
from tests.admin.conftest import sign_in
from tests.factories import create_case

ADMIN_PAGES = [
    "/admin/",
    "/admin/departments",
    "/admin/departments/new",
    "/admin/areas",
    "/admin/categories/new",
    "/admin/rules",
    "/admin/sla",
    "/admin/settings",
    "/admin/templates",
    "/admin/users",
    "/admin/audit",
    "/admin/audit/export?format=csv",
    "/admin/audit/verify",
]


def _entries(session: Any, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
    )


def _by_code(session: Any, model: Any, code: str) -> Any:
    return session.scalar(select(model).where(model.code == code))


@pytest.mark.parametrize("role", [None, "resident", "staff", "head", "coordinator", "moderator"])
def test_admin_pages_are_404_for_everyone_but_administrators(
    client: FlaskClient, jurisdiction: Any, make_user: Any, role: str | None
) -> None:
    if role is not None:
        user = make_user(role=role, department="housing" if role in ("staff", "head") else None)
        sign_in(client, user.email)
    for url in ADMIN_PAGES:
        assert client.get(url).status_code == 404, url
    assert client.post("/admin/departments/new", data={"code": "x", "name": "x"}).status_code == 404
    assert client.post("/admin/settings", data={"verdict_days": "3"}).status_code == 404
    page = client.get("/").get_data(as_text=True)
    assert "/admin/" not in page


def test_every_admin_page_renders_with_the_nav_link(admin_client: FlaskClient) -> None:
    for url in ADMIN_PAGES:
        response = admin_client.get(url)
        assert response.status_code == 200, url
    assert 'href="/admin/"' in admin_client.get("/").get_data(as_text=True)


def test_nobody_can_edit_the_audit_log_through_the_app(admin_client: FlaskClient) -> None:
    for method in ("post", "put", "delete", "patch"):
        assert getattr(admin_client, method)("/admin/audit").status_code == 405
    assert admin_client.post("/admin/audit/verify").status_code == 405


def test_a_rule_edit_routes_the_next_case_to_the_new_department(
    admin_client: FlaskClient, session: Any, admin: Any
) -> None:
    rule = session.scalar(
        select(RoutingRule)
        .join(RoutingRule.category)
        .where(Category.code == "G01-02", RoutingRule.area_id.is_(None))
    )
    text = "小区门口的路灯坏了一个多星期，晚上很黑，请尽快修理。"
    before = create_case(session, text=text, category_code="G01-02")
    assert before.lead_department.code == "urban_mgmt"
    response = admin_client.post(
        f"/admin/rules/{rule.id}",
        data={
            "category_code": "G01-02",
            "area_code": "",
            "department_code": "market",
            "co_department_codes": ["housing", "ecology"],
            "sla_code": "general",
            "active": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    after = create_case(session, text=text, category_code="G01-02")
    assert after.lead_department.code == "market"
    assert {t.department.code for t in after.tasks if t.role == "co"} == {"housing", "ecology"}
    (entry,) = _entries(session, "routing_rule_updated")
    assert entry.actor_id == admin.id and entry.target_id == str(rule.id)
    assert entry.before == {
        "department": "urban_mgmt",
        "co_departments": [],
        "sla_profile": "utilities",
    }
    assert entry.after == {
        "department": "market",
        "co_departments": ["ecology", "housing"],
        "sla_profile": "general",
    }
    assert entry.ip == "127.0.0.1"


def test_a_new_rule_takes_effect_and_a_duplicate_is_refused(
    admin_client: FlaskClient, session: Any
) -> None:
    data = {
        "category_code": "G01-09",
        "area_code": "",
        "department_code": "ecology",
        "sla_code": "general",
        "active": "y",
    }
    assert admin_client.post("/admin/rules/new", data=data).status_code == 302
    case = create_case(
        session, text="我们小区物业三个月没有清理楼道垃圾，请督促。", category_code="G01-09"
    )
    assert case.lead_department.code == "ecology"
    (entry,) = _entries(session, "routing_rule_created")
    assert entry.before is None and entry.after["department"] == "ecology"
    again = admin_client.post("/admin/rules/new", data=data)
    assert again.status_code == 422
    assert "already exists" in again.get_data(as_text=True)
    assert len(_entries(session, "routing_rule_created")) == 1


def test_a_deactivated_departments_rules_stop_matching(
    admin_client: FlaskClient, session: Any
) -> None:
    department = _by_code(session, Department, "urban_mgmt")
    response = admin_client.post(
        f"/admin/departments/{department.id}",
        data={"code": "urban_mgmt", "name": department.name, "name_en": department.name_en or ""},
    )  # "active" unchecked
    assert response.status_code == 302
    # The category's own rule stops matching: the group's rule (housing) applies instead.
    case = create_case(session, text="路灯坏了很久，晚上很黑，请修理。", category_code="G01-02")
    assert case.lead_department.code == "housing"
    (entry,) = _entries(session, "department_updated")
    assert entry.before == {"active": True} and entry.after == {"active": False}


def test_departments_areas_categories_sla_and_templates_are_created_and_audited(
    admin_client: FlaskClient, session: Any
) -> None:
    posts = [
        (
            "/admin/departments/new",
            {"code": "water", "name": "区水务局", "name_en": "Water Bureau", "active": "y"},
        ),
        (
            "/admin/areas/new",
            {
                "code": "LJ-JB-99",
                "name": "新建社区",
                "level": "community",
                "parent_code": "LJ-JB",
                "centroid_lat": "28.22",
                "centroid_lon": "112.86",
            },
        ),
        (
            "/admin/categories/new",
            {
                "code": "G01-50",
                "name": "二次供水",
                "parent_code": "G01",
                "keywords": "水压低，二次供水\n水箱",
                "default_priority": "urgent",
                "active": "y",
            },
        ),
        (
            "/admin/sla/new",
            {"code": "fast", "name": "快速", "respond_hours": "2", "resolve_hours": "24"},
        ),
        (
            "/admin/templates/new",
            {
                "category_code": "G01-50",
                "title": "已派员",
                "body": "您反映的{category}问题已派员处理。",
                "active": "y",
            },
        ),
    ]
    for url, data in posts:
        response = admin_client.post(url, data=data)
        assert response.status_code == 302, (url, response.get_data(as_text=True)[:2000])
    assert _by_code(session, Department, "water").name_en == "Water Bureau"
    area = _by_code(session, Area, "LJ-JB-99")
    assert area.parent.code == "LJ-JB" and area.level == "community"
    category = _by_code(session, Category, "G01-50")
    assert (
        category.keywords == ["水压低", "二次供水", "水箱"]
        and category.default_priority == "urgent"
    )
    assert _by_code(session, SlaProfile, "fast").resolve_hours == 24
    template = session.scalar(select(ResponseTemplate).where(ResponseTemplate.title == "已派员"))
    assert template.category.code == "G01-50"
    for action in (
        "department_created",
        "area_created",
        "category_created",
        "sla_profile_created",
        "response_template_created",
    ):
        (entry,) = _entries(session, action)
        assert entry.before is None and entry.after
    assert _entries(session, "category_created")[0].after["keywords"] == [
        "水压低",
        "二次供水",
        "水箱",
    ]
    # The new category is in the public catalogue at once.
    catalogue = admin_client.get("/api/v1/catalogue")
    if catalogue.status_code == 200:
        codes = {c["code"] for g in catalogue.get_json()["groups"] for c in g["categories"]}
        assert "G01-50" in codes
    assert verify_chain(session).ok


@pytest.mark.parametrize(
    ("url", "data", "message"),
    [
        (
            "/admin/sla/new",
            {"code": "x", "name": "x", "respond_hours": "48", "resolve_hours": "24"},
            "cannot be longer than the time to resolve",
        ),
        (
            "/admin/areas/new",
            {"code": "LJ-X", "name": "x", "level": "community", "parent_code": ""},
            "A community belongs to a street.",
        ),
        (
            "/admin/areas/new",
            {"code": "LJ-X", "name": "x", "level": "street", "parent_code": "LJ-JB"},
            "A street belongs to a district.",
        ),
        ("/admin/departments/new", {"code": "housing", "name": "重复"}, "already used"),
        ("/admin/departments/new", {"code": "bad code!", "name": "x"}, "A code has"),
        (
            "/admin/categories/new",
            {"code": "G99-01", "name": "x", "parent_code": "G01-02", "default_priority": "normal"},
            "Not a valid choice",
        ),
        (
            "/admin/settings",
            {"triage_confidence_threshold": "1.5", "verdict_days": "7"},
            "Number must be between 0 and 1",
        ),
    ],
)
def test_invalid_edits_are_refused_with_a_message_and_not_audited(
    admin_client: FlaskClient, session: Any, url: str, data: dict[str, str], message: str
) -> None:
    count_before = len(session.scalars(select(AuditEntry)).all())
    response = admin_client.post(url, data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    session.expire_all()
    assert len(session.scalars(select(AuditEntry)).all()) == count_before


def test_settings_edit_applies_and_is_audited(admin_client: FlaskClient, session: Any) -> None:
    response = admin_client.post(
        "/admin/settings",
        data={"triage_confidence_threshold": "0.99", "verdict_days": "10"},
    )  # transfer_needs_approval unchecked
    assert response.status_code == 302
    session.expire_all()
    assert get_setting(session, "triage_confidence_threshold") == 0.99
    assert get_setting(session, "verdict_days") == 10
    assert get_setting(session, "transfer_needs_approval") is False
    (entry,) = _entries(session, "settings_updated")
    assert entry.after == {
        "triage_confidence_threshold": 0.99,
        "verdict_days": 10,
        "transfer_needs_approval": False,
    }
    assert entry.before["verdict_days"] == 7
    # With a threshold of 0.99 a free-text case the engine is unsure about goes to triage.
    case = create_case(session, text="小区门口的路灯坏了一个多星期，晚上很黑，请尽快修理。")
    assert case.status == "triage"
    # Saving again without a change records nothing.
    admin_client.post(
        "/admin/settings", data={"triage_confidence_threshold": "0.99", "verdict_days": "10"}
    )
    assert len(_entries(session, "settings_updated")) == 1


def test_role_change_is_audited_and_needs_a_department_for_staff(
    admin_client: FlaskClient, session: Any, make_user: Any, admin: Any
) -> None:
    resident = make_user(role="resident")
    refused = admin_client.post(
        f"/admin/users/{resident.id}", data={"role": "staff", "department_code": "", "active": "y"}
    )
    assert refused.status_code == 422
    assert "need a department" in refused.get_data(as_text=True)
    response = admin_client.post(
        f"/admin/users/{resident.id}",
        data={"role": "staff", "department_code": "housing", "active": "y"},
    )
    assert response.status_code == 302
    session.expire_all()
    user = session.get(User, resident.id)
    assert user.role == "staff" and user.department.code == "housing"
    (entry,) = _entries(session, "role_changed")
    assert entry.actor_id == admin.id and entry.target_type == "user"
    assert entry.target_id == str(resident.id)
    assert entry.before == {"role": "resident", "department": None}
    assert entry.after == {"role": "staff", "department": "housing"}
    # The new staff member now sees the workbench; an administrator cannot demote themself.
    own = admin_client.post(
        f"/admin/users/{admin.id}", data={"role": "resident", "department_code": "", "active": "y"}
    )
    assert own.status_code == 422
    assert session.get(User, admin.id).role == "admin"


def test_audit_log_search_filters_and_paginates(
    admin_client: FlaskClient, session: Any, admin: Any
) -> None:
    from portal.audit.services import record_audit

    for i in range(60):
        record_audit(session, actor="cli", action="export", after={"i": i})
    record_audit(session, actor=admin, action="role_changed", target_type="user", target_id=7)
    session.commit()
    page = admin_client.get("/admin/audit?action=export").get_data(as_text=True)
    assert "Page 1 of 2" in page
    assert "role_changed</code>" not in page
    second = admin_client.get("/admin/audit?action=export&page=2").get_data(as_text=True)
    assert second.count("<code>export</code>") == 10
    by_actor = admin_client.get("/admin/audit?actor=Admin+Wang").get_data(as_text=True)
    assert "<code>role_changed</code>" in by_actor and "<code>export</code>" not in by_actor
    future = admin_client.get("/admin/audit?since=2999-01-01").get_data(as_text=True)
    assert "<code>export</code>" not in future
    assert admin_client.get("/admin/audit?since=not-a-date").status_code == 422


def test_audit_export_is_itself_audited(
    admin_client: FlaskClient, session: Any, admin: Any
) -> None:
    admin_client.post(
        "/admin/settings", data={"triage_confidence_threshold": "0.5", "verdict_days": "7"}
    )
    response = admin_client.get("/admin/audit/export?format=csv&action=settings_updated")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [r["action"] for r in rows] == ["settings_updated"]
    assert json.loads(rows[0]["after"])["triage_confidence_threshold"] == 0.5
    (export,) = _entries(session, "export")
    assert export.actor_id == admin.id
    assert export.after == {
        "format": "csv",
        "filters": {"action": "settings_updated"},
        "rows": 1,
    }
    as_json = admin_client.get("/admin/audit/export?format=json").get_json()
    assert [e["action"] for e in as_json] == ["login", "settings_updated", "export"]
    assert len(_entries(session, "export")) == 2
    assert verify_chain(session).ok


def test_verify_page_reports_tampering(admin_client: FlaskClient, session: Any) -> None:
    from sqlalchemy import text

    assert "intact" in admin_client.get("/admin/audit/verify").get_data(as_text=True)
    session.execute(text("UPDATE audit_entries SET ip = '10.0.0.1' WHERE id = 1"))
    session.commit()
    response = admin_client.get("/admin/audit/verify")
    assert response.status_code == 409
    assert "tampered with at entry 1" in response.get_data(as_text=True)
    assert "its content was changed after it was written" in response.get_data(as_text=True)


def test_audit_search_offers_actions_recorded_by_other_features(
    admin_client: FlaskClient, session: Any
) -> None:
    from portal.audit.services import record_audit

    record_audit(session, actor="cli", action="moderation.block", target_type="user", target_id=3)
    session.commit()
    page = admin_client.get("/admin/audit?action=moderation.block")
    assert page.status_code == 200
    assert '<option selected value="moderation.block">' in page.get_data(as_text=True)
    assert "<code>moderation.block</code>" in page.get_data(as_text=True)


def test_users_are_searched_by_name_or_email_and_role(
    admin_client: FlaskClient, make_user: Any
) -> None:
    make_user(role="staff", department="housing", display_name="Clerk Li", email="li@example.test")
    make_user(role="resident", display_name="Resident Zhao")
    page = admin_client.get("/admin/users?q=li%40example").get_data(as_text=True)
    assert "Clerk Li" in page and "Resident Zhao" not in page
    page = admin_client.get("/admin/users?role=resident").get_data(as_text=True)
    assert "Resident Zhao" in page and "Clerk Li" not in page
    assert "<td>Admin Wang</td>" not in page


def test_categories_can_be_listed_by_group(admin_client: FlaskClient) -> None:
    page = admin_client.get("/admin/categories?group=G02").get_data(as_text=True)
    assert "<td>G02</td>" in page and "<td>G02-02</td>" in page
    assert "<td>G01-02</td>" not in page
    everything = admin_client.get("/admin/categories").get_data(as_text=True)
    assert "<td>G01</td>" in everything and "Page 1 of" in everything
