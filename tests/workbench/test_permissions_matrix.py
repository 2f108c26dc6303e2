"""Every workbench action, allowed and refused, for every role (on SQLite and PostgreSQL).

Each action is tried by each role on a case in the status the action needs; after each attempt
the transaction is rolled back, so every role meets the same case. Then a role that may take the
action tries it on a second case whose status does not allow it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from portal.cases.models import Case
from portal.cases.photos import PhotoUpload
from portal.errors import Conflict, InvalidTransition, PermissionDenied
from portal.workbench import services, triage, verdicts
from tests.workbench.conftest import HOUSING_CATEGORY, HOUSING_TEXT, OTHER, ROLE_NAMES, People


def _png() -> PhotoUpload:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return PhotoUpload(filename="done.png", content_type="image/png", data=buffer.getvalue())


Attempt = Callable[[Any, Case, Any], object]

#: action → (the status the case is prepared in, how the action is attempted, roles allowed)
ACTIONS: dict[str, tuple[str, Attempt, set[str]]] = {
    "dispatch": (
        "triage",
        lambda db, case, user: triage.dispatch_case(
            db, case=case, actor=user, category_code=HOUSING_CATEGORY
        ),
        {"coordinator", "admin"},
    ),
    "close_invalid": (
        "triage",
        lambda db, case, user: triage.close_invalid(
            db, case=case, actor=user, reason="invalid", note="没有具体诉求，无法办理。"
        ),
        {"coordinator", "admin"},
    ),
    "accept": (
        "assigned",
        lambda db, case, user: services.accept_case(db, case=case, actor=user),
        {"staff", "head"},
    ),
    "contact": (
        "accepted",
        lambda db, case, user: services.record_contact(
            db, case=case, actor=user, method="phone", note="已电话联系居民，约定周五上门。"
        ),
        {"staff", "head"},
    ),
    "reply": (
        "accepted",
        lambda db, case, user: services.add_reply(
            db, case=case, actor=user, body="已通知物业公司限期整改。", public=True
        ),
        {"staff", "head"},
    ),
    "note": (
        "accepted",
        lambda db, case, user: services.add_reply(
            db, case=case, actor=user, body="内部备注：物业合同到期。", public=False
        ),
        {"staff", "head", "coordinator", "admin"},
    ),
    "request_co": (
        "accepted",
        lambda db, case, user: services.request_co_handling(
            db, case=case, actor=user, department_code=OTHER, note="请协助检测垃圾堆放点的异味。"
        ),
        {"staff", "head"},
    ),
    "co_done": (
        "accepted_co",
        lambda db, case, user: services.complete_co_task(
            db, case=case, actor=user, note="已现场检测，异味来源为垃圾站。"
        ),
        {"other_staff"},
    ),
    "return": (
        "accepted",
        lambda db, case, user: services.return_case(
            db, case=case, actor=user, reason="属于市政设施，不归住建局管理。"
        ),
        {"staff", "head"},
    ),
    "transfer": (
        "accepted",
        lambda db, case, user: services.transfer_case(
            db, case=case, actor=user, department_code=OTHER, reason="主要是环境污染问题。"
        ),
        {"staff", "head", "coordinator", "admin"},
    ),
    "resolve": (
        "accepted",
        lambda db, case, user: services.resolve_case(
            db, case=case, actor=user, summary="物业已清理楼道并维修电梯。"
        ),
        {"staff", "head"},
    ),
    "attach": (
        "accepted",
        lambda db, case, user: services.attach_photos(db, case=case, actor=user, photos=[_png()]),
        {"staff", "head"},
    ),
    "verdict": (
        "resolved",
        lambda db, case, user: verdicts.record_verdict(
            db, case=case, user=user, resolved=True, satisfaction=5, comment=None
        ),
        {"resident"},
    ),
}

#: action → a status in which even an allowed role is refused (and by which error).
WRONG_STATUS: dict[str, tuple[str, type[Exception]]] = {
    "dispatch": ("assigned", InvalidTransition),
    "close_invalid": ("accepted", InvalidTransition),
    "accept": ("accepted", Conflict),
    "contact": ("assigned", InvalidTransition),
    "reply": ("triage_returned", PermissionDenied),  # back in triage, the department lost it
    "note": ("closed", InvalidTransition),
    "request_co": ("resolved", InvalidTransition),
    "co_done": ("resolved_co", InvalidTransition),
    "return": ("resolved", InvalidTransition),
    "transfer": ("resolved", InvalidTransition),
    "resolve": ("assigned", InvalidTransition),
    "attach": ("closed", InvalidTransition),
    "verdict": ("accepted", InvalidTransition),
}


@pytest.fixture
def prepare(session: Any, make_case: Any, make_triage_case: Any, people: People) -> Any:
    """``prepare(state)`` → a new committed case in that state, built through the services."""

    def prepare_(state: str) -> Case:
        if state == "triage":
            return make_triage_case()
        case = make_case(
            text=HOUSING_TEXT, category_code=HOUSING_CATEGORY, submitter=people.resident
        )
        if state == "assigned":
            return case
        services.accept_case(session, case=case, actor=people.staff)
        if state.endswith("_co"):
            services.request_co_handling(
                session, case=case, actor=people.staff, department_code=OTHER, note="请协助处理。"
            )
        if state == "triage_returned":
            services.return_case(session, case=case, actor=people.staff, reason="不属于本部门。")
        if state.startswith(("resolved", "closed")):
            services.resolve_case(session, case=case, actor=people.staff, summary="已经处理完毕。")
        if state == "closed":
            verdicts.record_verdict(
                session, case=case, user=people.resident, resolved=True, satisfaction=4
            )
        session.commit()
        return case

    return prepare_


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_role_is_allowed_or_refused(
    action: str, session: Any, prepare: Any, people: People
) -> None:
    """Every role tries the action in the status it needs; then a role that may take it tries
    it on another case whose status does not allow it."""
    state, attempt, allowed = ACTIONS[action]
    case = prepare(state)
    outcome: dict[str, str] = {}
    for role in ROLE_NAMES:
        try:
            attempt(session, case, people.by_role(role))
        except PermissionDenied:
            outcome[role] = "refused"
        else:
            outcome[role] = "allowed"
        finally:
            session.rollback()
        assert case.status == state.removesuffix("_co")  # the rollback restored the case
    expected = {role: "allowed" if role in allowed else "refused" for role in ROLE_NAMES}
    assert outcome == expected

    wrong_state, error = WRONG_STATUS[action]
    other = prepare(wrong_state)
    before = (other.status, other.version)
    with pytest.raises(error):
        attempt(session, other, people.by_role(sorted(allowed)[0]))
    session.rollback()
    assert (other.status, other.version) == before
