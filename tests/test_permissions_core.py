"""Core permission predicates: who sees a case, its internal data and the resident's contact."""

from __future__ import annotations

from flask_login import AnonymousUserMixin

from portal import permissions
from tests.factories import POINTS


def test_roles(make_user, jurisdiction) -> None:
    clerk = make_user(role="staff", department="urban_mgmt")
    head = make_user(role="head", department="urban_mgmt")
    loose_clerk = make_user(role="staff")  # no department yet
    coordinator, admin = make_user(role="coordinator"), make_user(role="admin")
    resident = make_user()
    assert permissions.is_staff(clerk) and permissions.is_staff(head)
    assert permissions.is_head(head) and not permissions.is_head(clerk)
    assert not permissions.is_staff(loose_clerk)
    assert permissions.is_coordinator(coordinator) and not permissions.is_coordinator(admin)
    assert permissions.is_admin(admin) and not permissions.is_admin(resident)
    anonymous = AnonymousUserMixin()
    for predicate in (permissions.is_staff, permissions.is_coordinator, permissions.is_admin):
        assert not predicate(anonymous) and not predicate(None)
    clerk.active = False
    assert not permissions.is_staff(clerk)


def test_case_visibility(make_user, make_case, session) -> None:
    lat, lon = POINTS["LJ-JB"]
    resident = make_user()
    case = make_case(
        category_code="G01-02",
        lat=lat,
        lon=lon,
        submitter=resident,
        contact_phone="13912345678",
        consent=True,
    )
    lead = make_user(role="staff", department="street_jb")
    co = make_user(role="staff", department="urban_mgmt")
    other = make_user(role="head", department="education")
    coordinator, admin, moderator = (
        make_user(role=r) for r in ("coordinator", "admin", "moderator")
    )
    stranger = make_user()

    for user in (None, AnonymousUserMixin(), stranger, other, lead):
        assert permissions.can_view_case(user, case)
    for user, allowed in [
        (lead, True),
        (co, True),
        (coordinator, True),
        (admin, True),
        (other, False),
        (moderator, False),
        (resident, False),
        (stranger, False),
        (None, False),
    ]:
        assert permissions.can_view_case_internal(user, case) is allowed, user
    for user, allowed in [
        (lead, True),
        (co, True),
        (coordinator, True),
        (admin, False),
        (moderator, False),
        (other, False),
        (resident, False),
        (None, False),
    ]:
        assert permissions.can_view_contact(user, case) is allowed, user

    co_task = next(t for t in case.tasks if t.role == "co")
    co_task.status = "withdrawn"
    session.commit()
    assert not permissions.can_view_contact(co, case)
    assert not permissions.can_view_case_internal(co, case)


def test_discipline_reports_are_not_public(make_user, make_case) -> None:
    resident = make_user()
    case = make_case(
        text="某科室负责人利用职权为亲属承揽工程，收受好处费。",
        category_code="G15-03",
        submitter=resident,
    )
    assert not permissions.is_public_case(case)
    assert not permissions.can_view_case(None, case)
    assert not permissions.can_view_case(make_user(), case)
    assert permissions.can_view_case(resident, case)
    assert permissions.can_view_case(make_user(role="staff", department="discipline"), case)
    assert not permissions.can_view_case(make_user(role="staff", department="housing"), case)
