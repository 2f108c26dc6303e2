"""Workbench use cases of the departments: accept, contact, reply, co-handling, return, transfer,
resolve, photos, response templates. Triage lives in :mod:`portal.workbench.triage`, verdicts in
:mod:`portal.workbench.verdicts` (both re-exported here).

Every function takes a session and primitives, checks the role rule in :mod:`portal.permissions`
and the status rule here, writes case events through :mod:`portal.cases.status`, flushes and never
commits (the request or the CLI command commits once).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import permissions
from portal.accounts.models import User
from portal.cases.models import Case, CaseTask
from portal.cases.status import ACCEPTED, ASSIGNED, RESOLVED, TRIAGE
from portal.db import utcnow
from portal.errors import Conflict, NotFound, ValidationError
from portal.jurisdiction.models import Department
from portal.system_messages import KEY as MESSAGE_KEY
from portal.workbench.handling import (
    CONTACT_METHODS,
    MIN_REASON_CHARS,
    StaffEvents,
    clean_text,
    concurrent_change_guard,
    get_department,
    lead_task,
    mask_public_text,
    open_co_task,
    require,
    require_no_pending_answer,
    require_status,
    set_lead,
    setting,
    task_for,
)
from portal.workbench.models import ResponseTemplate, TransferRequest
from portal.workbench.triage import labelled_example

# --- the lead department ------------------------------------------------------------------------


def accept_case(session: Session, *, case: Case, actor: User) -> Case:
    """签收: the lead department takes the case on. Of two clerks at once, exactly one wins."""
    require(permissions.can_take_workbench_action(actor, case, "accept"))
    if case.status == ACCEPTED:
        raise Conflict(_("This case has already been accepted."))
    require_status(case, ASSIGNED)
    now = utcnow()
    task = lead_task(case)
    if task is not None:
        task.status = "accepted"
        task.accepted_at = now
    with concurrent_change_guard():
        StaffEvents(session, case, actor).transition(
            "accept", department_id=case.lead_department_id
        )
    return case


def record_contact(session: Session, *, case: Case, actor: User, method: str, note: str) -> Case:
    """Record that the department contacted the resident (internal: how, and what was agreed)."""
    require(permissions.can_take_workbench_action(actor, case, "contact"))
    require_status(case, ACCEPTED)
    if method not in CONTACT_METHODS:
        raise ValidationError(_("Choose how the resident was contacted."), field="method")
    text = clean_text(note, field="note", required=True)
    now = utcnow()
    if case.contacted_at is None:
        case.contacted_at = now
    with concurrent_change_guard():
        StaffEvents(session, case, actor).record(
            "contact",
            note=text,
            public=False,
            department_id=case.lead_department_id,
            data={"method": method},
        )
    return case


def add_reply(session: Session, *, case: Case, actor: User, body: str, public: bool) -> Case:
    """A public reply to the resident (masked, notified) or an internal note."""
    if public:
        require(permissions.can_take_workbench_action(actor, case, "reply"))
        require_status(case, ASSIGNED, ACCEPTED, RESOLVED)
    else:
        require(permissions.can_take_workbench_action(actor, case, "note"))
        require_status(case, TRIAGE, ASSIGNED, ACCEPTED, RESOLVED)  # a closed record is final
    text = clean_text(body, field="body", required=True)
    assert text is not None
    StaffEvents(session, case, actor).record(
        "reply" if public else "note",
        note=mask_public_text(text) if public else text,
        public=public,
        department_id=actor.department_id,
    )
    return case


def request_co_handling(
    session: Session, *, case: Case, actor: User, department_code: str, note: str
) -> CaseTask:
    """Ask another department to handle part of the case (协办): a co task and an event."""
    require(permissions.can_take_workbench_action(actor, case, "request_co"))
    require_status(case, ASSIGNED, ACCEPTED)
    department = get_department(session, department_code)
    if department.id == case.lead_department_id:
        raise ValidationError(_("Choose a department other than the lead one."), field="department")
    text = clean_text(note, field="note", required=True, minimum=MIN_REASON_CHARS)
    task = open_co_task(session, case, department, utcnow(), text)
    StaffEvents(session, case, actor).record(
        "co_handle_requested",
        note=text,
        public=False,
        department_id=department.id,
        data={"department_code": department.code},
    )
    return task


def complete_co_task(session: Session, *, case: Case, actor: User, note: str) -> CaseTask:
    """The co-handling department reports its part done."""
    require(permissions.can_take_workbench_action(actor, case, "co_done"))
    require_status(case, ASSIGNED, ACCEPTED)
    text = clean_text(note, field="note", required=True)
    task = task_for(case, actor.department_id) if actor.department_id is not None else None
    if task is None or task.role != "co" or task.status not in {"open", "accepted"}:
        raise Conflict(_("Your department has no open co-handling task on this case."))
    task.status = "done"
    task.done_at = utcnow()
    task.note = text
    StaffEvents(session, case, actor).record(
        "co_handle_done", note=text, public=False, department_id=task.department_id
    )
    return task


def return_case(session: Session, *, case: Case, actor: User, reason: str) -> Case:
    """ "Not ours": back to the dispatch centre with a mandatory reason, kept as a labelled example."""
    require(permissions.can_take_workbench_action(actor, case, "return"))
    require_status(case, ASSIGNED, ACCEPTED)
    text = clean_text(reason, field="reason", required=True, minimum=MIN_REASON_CHARS)
    department = case.lead_department
    task = lead_task(case)
    if task is not None:
        task.status = "withdrawn"
    session.add(
        labelled_example(
            case,
            category=case.category,
            department=department,
            source="returned_not_ours",
            reason=text,
            created_by_id=actor.id,
        )
    )
    case.triage_reason = "returned"
    case.lead_department = None
    with concurrent_change_guard():
        StaffEvents(session, case, actor).transition(
            "return",
            note=None,
            public=True,
            department_id=department.id if department else None,
            data={"reason": text, "department_code": department.code if department else None},
        )
    return case


def transfer_case(
    session: Session, *, case: Case, actor: User, department_code: str, reason: str
) -> TransferRequest | None:
    """Hand the case to another department.

    Coordinators transfer directly. Department staff do too unless the setting
    ``transfer_needs_approval`` is on: then a pending :class:`TransferRequest` is returned and a
    coordinator decides (:func:`decide_transfer`).
    """
    require(permissions.can_take_workbench_action(actor, case, "transfer"))
    require_status(case, ASSIGNED, ACCEPTED)
    department = get_department(session, department_code)
    if department.id == case.lead_department_id:
        raise ValidationError(_("The case is already with this department."), field="department")
    text = clean_text(reason, field="reason", required=True, minimum=MIN_REASON_CHARS)
    assert text is not None
    if permissions.is_dispatch_centre(actor) or not setting(session, "transfer_needs_approval"):
        _perform_transfer(session, case=case, actor=actor, department=department, reason=text)
        return None
    pending = session.scalar(
        select(TransferRequest).where(
            TransferRequest.case_id == case.id, TransferRequest.status == "pending"
        )
    )
    if pending is not None:
        raise Conflict(_("A transfer of this case is already waiting for approval."))
    assert case.lead_department_id is not None
    request = TransferRequest(
        case=case,
        from_department_id=case.lead_department_id,
        to_department_id=department.id,
        reason=text,
        requested_by_id=actor.id,
        created_at=utcnow(),
    )
    session.add(request)
    StaffEvents(session, case, actor).record(
        "transfer_requested",
        note=text,
        public=False,
        department_id=case.lead_department_id,
        data={"to_department_code": department.code},
    )
    return request


def _perform_transfer(
    session: Session,
    *,
    case: Case,
    actor: User,
    department: Department,
    reason: str,
    approved_request: TransferRequest | None = None,
) -> None:
    previous = case.lead_department
    set_lead(session, case, department, utcnow())
    with concurrent_change_guard():
        StaffEvents(session, case, actor).transition(
            "transfer",
            department_id=previous.id if previous else None,
            data={
                "from_department_code": previous.code if previous else None,
                "department_code": department.code,
                "reason": reason,
                "request_id": approved_request.id if approved_request else None,
            },
        )


def decide_transfer(
    session: Session,
    *,
    request: TransferRequest,
    actor: User,
    approve: bool,
    note: str | None = None,
) -> TransferRequest:
    """A coordinator approves (the case moves) or rejects (it stays) a pending transfer request."""
    require(permissions.can_decide_transfer(actor))
    if request.status != "pending":
        raise Conflict(_("This transfer request has already been decided."))
    case = request.case
    text = clean_text(note, field="note", required=not approve, minimum=MIN_REASON_CHARS)
    request.status = "approved" if approve else "rejected"
    request.decided_by_id = actor.id
    request.decided_at = utcnow()
    request.decision_note = text
    if approve:
        if (
            case.status not in {ASSIGNED, ACCEPTED}
            or case.lead_department_id != request.from_department_id
        ):
            raise Conflict(_("The case has moved on since this transfer was requested."))
        _perform_transfer(
            session,
            case=case,
            actor=actor,
            department=request.to_department,
            reason=request.reason,
            approved_request=request,
        )
    else:
        StaffEvents(session, case, actor).record(
            "transfer_rejected",
            note=text,
            public=False,
            department_id=request.from_department_id,
            data={"request_id": request.id},
        )
    return request


def resolve_case(
    session: Session,
    *,
    case: Case,
    actor: User,
    summary: str,
    message: dict[str, Any] | None = None,
) -> Case:
    """办结: mark resolved with a public summary; the submitter is asked for a verdict.

    ``message`` (a :func:`~portal.system_messages.system_message`) is shown instead of the
    summary, in each reader's language, when the system frames the summary (a proposal's answer).

    A case carrying a proposal's formal answer is refused (``answer_required``): it is resolved
    by :func:`portal.deliberation.answers.answer_proposal`, which answers first, then calls this.
    """
    require(permissions.can_take_workbench_action(actor, case, "resolve"))
    require_status(case, ACCEPTED)
    require_no_pending_answer(session, case, action="resolve")
    text = clean_text(summary, field="summary", required=True, minimum=MIN_REASON_CHARS)
    assert text is not None
    task = lead_task(case)
    if task is not None:
        task.status = "done"
        task.done_at = utcnow()
    with concurrent_change_guard():
        StaffEvents(session, case, actor).transition(
            "resolve",
            note=mask_public_text(text),
            public=True,
            department_id=case.lead_department_id,
            data={MESSAGE_KEY: message} if message is not None else None,
        )
    return case


def attach_photos(
    session: Session, *, case: Case, actor: User, photos: Sequence[Any], public: bool = True
) -> list[Any]:
    """Attach photos (e.g. of the finished work) with the intake's photo handling."""
    from portal.cases.photos import store_photos

    require(permissions.can_take_workbench_action(actor, case, "attach"))
    require_status(case, ASSIGNED, ACCEPTED, RESOLVED)
    if not photos:
        raise ValidationError(_("Choose at least one photo."), field="photos")
    attachments = store_photos(session, case=case, photos=photos, uploaded_by=actor, public=public)
    event = StaffEvents(session, case, actor).record(
        "attachment",
        public=public,
        department_id=actor.department_id,
        data={"count": len(attachments)},
    )
    for attachment in attachments:
        attachment.event_id = event.id
    return attachments


# --- response templates -------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(tracking_number|category|department|date)\}")


def templates_for_case(session: Session, case: Case) -> list[ResponseTemplate]:
    """Active templates for the case's category, then its group, then the general ones."""
    category_ids: list[int] = []
    if case.category is not None:
        category_ids.append(case.category.id)
        if case.category.parent_id is not None:
            category_ids.append(case.category.parent_id)
    rows = session.scalars(
        select(ResponseTemplate).where(
            ResponseTemplate.active.is_(True),
            ResponseTemplate.category_id.in_(category_ids) | ResponseTemplate.category_id.is_(None),
        )
    ).all()
    order = {cid: i for i, cid in enumerate(category_ids)}
    return sorted(rows, key=lambda t: (order.get(t.category_id, len(order)), t.title, t.id))  # type: ignore[arg-type]


def render_response_template(
    template: ResponseTemplate, case: Case, *, now: datetime | None = None
) -> str:
    """Fill the known placeholders; any other brace text is left as written."""
    values = {
        "tracking_number": case.tracking_number,
        "category": case.category.name if case.category else "",
        "department": case.lead_department.name if case.lead_department else "",
        "date": (now or utcnow()).date().isoformat(),
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template.body)


def get_response_template(session: Session, case: Case, template_id: int) -> ResponseTemplate:
    template = session.get(ResponseTemplate, template_id)
    if template is None or template not in templates_for_case(session, case):
        raise NotFound(_("No such response template for this case."))
    return template


# Triage and verdict use cases, re-exported for callers (the JSON API) that import every workbench
# use case from here.
from portal.workbench.triage import (  # noqa: E402
    close_invalid,
    dispatch_case,
    labelled_examples_for_training,
    suggest_routing,
)
from portal.workbench.verdicts import close_unrated, record_verdict  # noqa: E402

__all__ = [
    "close_invalid",
    "close_unrated",
    "dispatch_case",
    "labelled_examples_for_training",
    "record_verdict",
    "suggest_routing",
]
