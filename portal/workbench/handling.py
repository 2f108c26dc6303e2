"""How a department holds a case: its tasks and deadlines, and the checks, guards and event
writing every workbench action shares (role, status, text, optimistic-lock conflicts, masking)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from portal import permissions
from portal.accounts.models import User
from portal.cases.models import Case, CaseEvent, CaseTask
from portal.cases.status import record_event, transition
from portal.deliberation.lifecycle import proposal_awaiting_answer
from portal.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationError
from portal.jurisdiction.models import Category, Department, SlaProfile
from portal.jurisdiction.services import get_setting

MAX_NOTE_CHARS = 4000
MIN_REASON_CHARS = 4
CONTACT_METHODS = ("phone", "visit", "message", "other")
CLOSE_REASONS = ("invalid", "duplicate", "out_of_scope")
PRIORITIES = ("emergency", "urgent", "normal")


# --- small shared pieces ------------------------------------------------------------------------


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied(_("You are not allowed to do this on this case."))


def require_status(case: Case, *statuses: str) -> None:
    if case.status not in statuses:
        raise InvalidTransition(
            _("This cannot be done while the case is %(status)s.", status=case.status),
            status=case.status,
        )


def require_no_pending_answer(session: Session, case: Case, *, action: str) -> None:
    """A case routed from a residents' proposal ends with the department's formal answer to that
    proposal (accepted / partly accepted / rejected, with reasons), which also resolves the case;
    never with a plain resolution or closure, which would leave the proposal "under review" for
    ever. ``action`` is "resolve" (the department) or "close" (the dispatch centre, in triage)."""
    if proposal_awaiting_answer(session, case.id) is None:
        return
    if action == "close":
        message = _(
            "This case is a residents’ proposal waiting for its official answer: it cannot be "
            "closed here. Dispatch it to the department that answers it (the answer may reject "
            "it, with reasons)."
        )
    else:
        message = _(
            "This case is a residents’ proposal: it is resolved by publishing the official "
            "answer (accepted, partly accepted or rejected, with reasons), not by a summary."
        )
    raise InvalidTransition(message, code="answer_required", status=case.status)


@contextmanager
def concurrent_change_guard() -> Iterator[None]:
    """Turn the Case optimistic-lock failure into a clear :class:`Conflict`."""
    try:
        yield
    except StaleDataError as exc:
        raise Conflict(
            _("Someone else changed this case at the same time. Reload the page and try again.")
        ) from exc


def clean_text(value: str | None, *, field: str, required: bool, minimum: int = 1) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise ValidationError(_("This field is required."), field=field)
        return None
    if len(text) < minimum:
        raise ValidationError(_("Please write at least %(n)d characters.", n=minimum), field=field)
    if len(text) > MAX_NOTE_CHARS:
        raise ValidationError(
            _("Please keep this under %(n)d characters.", n=MAX_NOTE_CHARS), field=field
        )
    return text


def mask_public_text(text: str) -> str:
    """Public notes are masked before storage, like the resident's own text."""
    import nlp

    return nlp.mask_pii(text).text


def get_department(session: Session, code: str | None, *, field: str = "department") -> Department:
    department = session.scalar(select(Department).where(Department.code == code)) if code else None
    if department is None or not department.active:
        raise ValidationError(_("Choose an existing department."), field=field)
    return department


def get_category(session: Session, code: str | None, *, field: str = "category") -> Category:
    category = session.scalar(select(Category).where(Category.code == code)) if code else None
    if category is None or not category.active:
        raise ValidationError(_("Choose an existing category."), field=field)
    return category


def setting(session: Session, key: str) -> Any:
    return get_setting(session, key)


def actor_role(actor: User) -> str:
    return str(actor.role)


class StaffEvents:
    """The events one member of staff writes on a case, attributed to them in their role."""

    def __init__(self, session: Session, case: Case, actor: User) -> None:
        self.session, self.case, self.actor = session, case, actor
        self.role = actor_role(actor)

    def record(self, type_: str, *, public: bool, **event: Any) -> CaseEvent:
        """An event that leaves the status alone (``note``, ``department_id``, ``data`` as
        :func:`~portal.cases.status.record_event` takes them); an internal one
        (``public=False``) is neither shown nor sent to the resident."""
        return record_event(
            self.session,
            self.case,
            type_,
            actor=self.actor,
            actor_role=self.role,
            public=public,
            **event,
        )

    def transition(self, action: str, **event: Any) -> CaseEvent:
        """Move the case by ``action`` (keywords as :func:`~portal.cases.status.transition`)."""
        return transition(
            self.session, self.case, action, actor=self.actor, actor_role=self.role, **event
        )


# --- tasks and deadlines ------------------------------------------------------------------------


def task_for(case: Case, department_id: int) -> CaseTask | None:
    return next((t for t in case.tasks if t.department_id == department_id), None)


def lead_task(case: Case) -> CaseTask | None:
    """The current lead department's task."""
    if case.lead_department_id is None:
        return None
    task = task_for(case, case.lead_department_id)
    return task if task is not None and task.role == "lead" else None


def set_lead(session: Session, case: Case, department: Department, now: datetime) -> CaseTask:
    """Make ``department`` the lead: withdraw the previous lead task, open (or reuse) this one."""
    for task in case.tasks:
        if task.role == "lead" and task.department_id != department.id and task.status != "done":
            task.status = "withdrawn"
    task = task_for(case, department.id)
    if task is None:
        task = CaseTask(case=case, department_id=department.id, role="lead", created_at=now)
        session.add(task)
    task.role = "lead"
    task.status = "open"
    task.accepted_at = None
    task.done_at = None
    case.lead_department = department
    return task


def open_co_task(
    session: Session, case: Case, department: Department, now: datetime, note: str | None
) -> CaseTask:
    task = task_for(case, department.id)
    if task is None:
        task = CaseTask(case=case, department_id=department.id, role="co", created_at=now)
        session.add(task)
    elif task.role == "co" and task.status in {"open", "accepted"}:
        raise ValidationError(
            _("%(name)s is already co-handling this case.", name=department.name),
            field="department",
        )
    task.role = "co"
    task.status = "open"
    task.note = note
    task.done_at = None
    return task


def apply_due_dates(
    session: Session, case: Case, sla: SlaProfile | None, now: datetime
) -> dict[str, str | None]:
    """Set the case's deadlines from its SLA, starting now; returns them for the event's data."""
    from portal.routing.services import EMERGENCY_SLA, compute_due_dates

    if sla is None:
        case.respond_due_at, case.due_at = None, None
    else:
        floor = session.scalar(select(SlaProfile).where(SlaProfile.code == EMERGENCY_SLA))
        case.respond_due_at, case.due_at = compute_due_dates(
            case, sla, case.priority, start=now, emergency_floor=floor
        )
    return {
        "respond_due_at": case.respond_due_at.isoformat() if case.respond_due_at else None,
        "due_at": case.due_at.isoformat() if case.due_at else None,
    }


def case_for_staff(session: Session, tracking_number: str, user: Any) -> Case:
    """The case by tracking number if the user may see its internal view, else NotFound (404)."""
    case = session.scalar(select(Case).where(Case.tracking_number == tracking_number))
    if case is None or not permissions.can_view_case_internal(user, case):
        raise NotFound(_("No such case."))
    return case
