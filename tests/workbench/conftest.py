"""Workbench fixtures: the people of one department case and cases in each starting state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from portal.accounts.models import User
from portal.cases.models import Case
from portal.jurisdiction.models import Category, RoutingRule

#: A property-management complaint; the resident picks 住房保障与房地产 (G01-09) → the housing bureau.
HOUSING_TEXT = (
    "我们小区物业三个月没有清理楼道垃圾，电梯也经常坏，物业公司一直不处理，请相关部门督促。"
)
HOUSING_CATEGORY = "G01-09"
LEAD = "housing"
OTHER = "ecology"


@dataclass
class People:
    resident: User  # the submitter
    staff: User  # clerk of the lead department
    head: User  # head of the lead department
    other_staff: User  # clerk of another department
    coordinator: User
    moderator: User
    admin: User
    stranger: User  # another resident

    def by_role(self, name: str) -> User:
        return getattr(self, name)


ROLE_NAMES = ("resident", "staff", "head", "other_staff", "coordinator", "moderator", "admin")


@pytest.fixture
def people(jurisdiction: Any, make_user: Any) -> People:
    return People(
        resident=make_user(role="resident"),
        staff=make_user(role="staff", department=LEAD),
        head=make_user(role="head", department=LEAD),
        other_staff=make_user(role="staff", department=OTHER),
        coordinator=make_user(role="coordinator"),
        moderator=make_user(role="moderator"),
        admin=make_user(role="admin"),
        stranger=make_user(role="resident"),
    )


@pytest.fixture
def assigned_case(make_case: Any, people: People) -> Case:
    """Submitted with a chosen category, so the rules route it to the housing bureau."""
    case = make_case(text=HOUSING_TEXT, category_code=HOUSING_CATEGORY, submitter=people.resident)
    assert case.status == "assigned" and case.lead_department.code == LEAD
    return case


@pytest.fixture
def make_triage_case(session: Any, make_case: Any, people: People) -> Any:
    """``make_triage_case()`` → a case in triage because no routing rule covers its category
    (the G14 group rule is switched off, as an administrator could)."""

    def make(
        text: str = "关于社区党支部换届选举的程序有疑问，希望有关部门给予解答和指导。",
    ) -> Case:
        group = session.scalar(select(Category).where(Category.code == "G14"))
        for rule in session.scalars(select(RoutingRule).where(RoutingRule.category_id == group.id)):
            rule.active = False
        session.commit()
        case = make_case(text=text, category_code="G14-01", submitter=people.resident)
        assert case.status == "triage", case.triage_reason
        return case

    return make


def login(client: Any, user: User) -> None:
    """Sign ``user`` in on the test client (Flask-Login's session keys).

    The ``app`` fixture keeps one app context open, which requests reuse, so Flask-Login's
    per-context cache of the current user (``g._login_user``) is dropped as well."""
    from flask import g

    with client.session_transaction() as flask_session:
        flask_session["_user_id"] = str(user.id)
        flask_session["_fresh"] = True
    g.pop("_login_user", None)
