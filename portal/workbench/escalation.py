"""Deadline escalation: flag overdue cases to the department head and the coordinators.

Run by cron as ``flask --app portal escalate-overdue``. One ``escalated`` event per case per
overdue episode: an episode is identified by the due date that was missed, so a case whose
deadline is reset (dispatch again, transfer with new dates, reopen) can be escalated again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.accounts.models import Role, User
from portal.cases.models import Case, CaseEvent, Notification
from portal.cases.status import OPEN_STATUSES, record_event
from portal.db import utcnow


@dataclass
class EscalationSummary:
    escalated: list[str] = field(default_factory=list)  # tracking numbers flagged this run
    already_escalated: int = 0
    notifications: int = 0


def _episode_key(case: Case) -> str:
    assert case.due_at is not None
    return case.due_at.isoformat()


def escalate_overdue(session: Session, *, now: datetime | None = None) -> EscalationSummary:
    """Write an ``escalated`` event and Notification rows (kind ``escalated``) for every open case
    past its due date that has not been escalated for that due date yet."""
    now = now or utcnow()
    summary = EscalationSummary()
    overdue = session.scalars(
        select(Case)
        .where(Case.status.in_(OPEN_STATUSES), Case.due_at.is_not(None), Case.due_at < now)
        .options(selectinload(Case.lead_department))
        .order_by(Case.due_at, Case.id)
    ).all()
    if not overdue:
        return summary
    done: dict[int, set[str]] = {}
    for case_id, data in session.execute(
        select(CaseEvent.case_id, CaseEvent.data).where(
            CaseEvent.type == "escalated", CaseEvent.case_id.in_([c.id for c in overdue])
        )
    ):
        done.setdefault(case_id, set()).add(str((data or {}).get("due_at")))
    coordinators = session.scalars(
        select(User.id).where(User.role == Role.COORDINATOR.value, User.active.is_(True))
    ).all()
    heads: dict[int, list[int]] = {}
    for user_id, department_id in session.execute(
        select(User.id, User.department_id).where(
            User.role == Role.HEAD.value, User.active.is_(True), User.department_id.is_not(None)
        )
    ):
        heads.setdefault(department_id, []).append(user_id)
    for case in overdue:
        key = _episode_key(case)
        if key in done.get(case.id, set()):
            summary.already_escalated += 1
            continue
        recipients = list(
            dict.fromkeys([*heads.get(case.lead_department_id or -1, []), *coordinators])
        )
        hours_late = round((now - case.due_at).total_seconds() / 3600, 1)  # type: ignore[operator]
        event = record_event(
            session,
            case,
            "escalated",
            actor=None,
            actor_role="system",
            public=False,
            department_id=case.lead_department_id,
            data={"due_at": key, "hours_overdue": hours_late, "recipients": recipients},
        )
        for user_id in recipients:
            session.add(
                Notification(
                    user_id=user_id,
                    case_id=case.id,
                    event_id=event.id,
                    kind="escalated",
                    payload={
                        "tracking_number": case.tracking_number,
                        "status": case.status,
                        "due_at": key,
                        "hours_overdue": hours_late,
                        "department": case.lead_department.name if case.lead_department else None,
                    },
                    created_at=now,
                )
            )
        summary.notifications += len(recipients)
        summary.escalated.append(case.tracking_number)
    session.flush()
    return summary
