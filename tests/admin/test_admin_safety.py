"""Admin edits fail closed when their audit entry cannot be written, and need a CSRF token."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from portal.admin.services import save_department
from portal.audit.models import AuditEntry
from portal.audit.services import record_audit
from portal.jurisdiction.models import Department
from tests.factories import DEFAULT_PASSWORD, create_user, load_demo_jurisdiction


def _break_chain_head(session: Any) -> None:
    """Point the chain head back at entry 0 while entry 1 exists: the next append collides."""
    record_audit(session, actor="cli", action="export")
    session.commit()
    session.execute(text("UPDATE audit_chain_head SET last_entry_id = 0"))
    session.commit()


def test_an_edit_whose_audit_entry_fails_is_rolled_back(
    session: Any, jurisdiction: Any, make_user: Any
) -> None:
    admin = make_user(role="admin")
    _break_chain_head(session)
    with pytest.raises(IntegrityError):
        save_department(session, actor=admin, department=None, code="water", name="区水务局")
    session.rollback()
    assert session.scalar(select(Department).where(Department.code == "water")) is None
    assert session.scalars(select(AuditEntry)).all()[-1].action == "export"


def test_the_web_edit_fails_closed_too(
    client: FlaskClient, session: Any, jurisdiction: Any, make_user: Any
) -> None:
    admin = make_user(role="admin")
    client.set_cookie("lang", "en")
    assert (
        client.post("/login", data={"email": admin.email, "password": DEFAULT_PASSWORD}).status_code
        == 302
    )
    _break_chain_head(session)
    response = client.post(
        "/admin/departments/new", data={"code": "water", "name": "区水务局", "active": "y"}
    )
    assert response.status_code == 500
    session.expire_all()
    assert session.scalar(select(Department).where(Department.code == "water")) is None


def test_admin_forms_need_a_csrf_token(make_app: Any) -> None:
    from portal import get_session

    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        session = get_session()
        load_demo_jurisdiction(session)
        email = create_user(session, role="admin").email
    # Requests run outside that context: flask-wtf caches the token in ``g`` per app context.
    client = app.test_client()
    token = _csrf_token(client.get("/login").get_data(as_text=True))
    signed_in = client.post(
        "/login", data={"email": email, "password": DEFAULT_PASSWORD, "csrf_token": token}
    )
    assert signed_in.status_code == 302
    data = {"code": "water", "name": "区水务局", "active": "y"}
    assert client.post("/admin/departments/new", data=data).status_code == 400
    token = _csrf_token(client.get("/admin/departments/new").get_data(as_text=True))
    ok = client.post("/admin/departments/new", data=data | {"csrf_token": token})
    assert ok.status_code == 302
    with app.app_context():
        session = get_session()
        assert session.scalar(select(Department).where(Department.code == "water"))
        assert [e.action for e in session.scalars(select(AuditEntry))] == [
            "login",
            "department_created",
        ]


def _csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)
