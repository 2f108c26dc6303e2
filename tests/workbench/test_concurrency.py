"""Two clerks accept the same case at the same moment on PostgreSQL: exactly one wins, the other
gets a clear Conflict (the Case optimistic lock), and the history holds one ``accept`` event."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from portal import get_session
from portal.accounts.models import User
from portal.cases.models import Case, CaseEvent
from portal.errors import Conflict
from portal.workbench import services
from tests.workbench.conftest import LEAD, People

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("attempt", range(3))
def test_two_clerks_accept_at_once_exactly_one_wins(
    app: Any, session: Any, assigned_case: Case, people: People, make_user: Any, attempt: int
) -> None:
    second_clerk = make_user(role="staff", department=LEAD)
    case_id = assigned_case.id
    clerk_ids = [people.staff.id, second_clerk.id]
    loaded = threading.Barrier(2, timeout=10)
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def clerk(user_id: int) -> None:
        try:
            with app.app_context():
                db = get_session()  # a session (and connection) of this thread
                case = db.get(Case, case_id)
                user = db.get(User, user_id)
                assert case is not None and case.status == "assigned" and case.tasks
                loaded.wait()  # both have read version 1 before either writes
                try:
                    services.accept_case(db, case=case, actor=user)
                    db.commit()
                    results[user_id] = "won"
                except Conflict as conflict:
                    db.rollback()
                    results[user_id] = conflict.message
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=clerk, args=(uid,)) for uid in clerk_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(results.values(), key=lambda r: r != "won")[0] == "won"
    outcomes = list(results.values())
    assert outcomes.count("won") == 1, outcomes
    loser = next(r for r in outcomes if r != "won")
    # Services speak the default locale (zh_Hans_CN) outside a request.
    assert any(words in loser for words in ("already been accepted", "same time", "同时修改"))

    session.expire_all()
    case = session.get(Case, case_id)
    winner = next(uid for uid, r in results.items() if r == "won")
    accepts = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.type == "accept")
    ).all()
    assert [e.actor_id for e in accepts] == [winner]
    assert case.status == "accepted" and case.version == 2
    assert session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case_id)) == 2
