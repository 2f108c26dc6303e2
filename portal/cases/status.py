"""The case lifecycle, defined once: statuses, the actions that move between them, and events.

Every status change goes through :func:`transition`, which checks the graph and writes exactly
one :class:`CaseEvent`. Who may take an action is decided in :mod:`portal.permissions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.cases.models import Case, CaseEvent, CaseFollower, Notification
from portal.db import utcnow
from portal.errors import InvalidTransition
from portal.system_messages import KEY as MESSAGE_KEY
from portal.system_messages import message_of

TRIAGE = "triage"  # 待分拨: waiting for a coordinator
ASSIGNED = "assigned"  # 待签收: routed to a department, not yet accepted
ACCEPTED = "accepted"  # 处理中: a department is working on it
RESOLVED = "resolved"  # 已办结: waiting for the resident's verdict
CLOSED = "closed"  # 已关闭

STATUSES = (TRIAGE, ASSIGNED, ACCEPTED, RESOLVED, CLOSED)
OPEN_STATUSES = frozenset({TRIAGE, ASSIGNED, ACCEPTED})
PUBLIC_STATUS = {TRIAGE: "open", ASSIGNED: "open", ACCEPTED: "open", RESOLVED: "closed", CLOSED: "closed"}


@dataclass(frozen=True)
class Action:
    name: str
    sources: frozenset[str | None]
    target: str | None  # None: the caller chooses among ``targets``
    targets: frozenset[str] = frozenset()

    def allowed_from(self, status: str | None) -> bool:
        return status in self.sources


def _a(name: str, sources: set[str | None], target: str | None, targets: set[str] | None = None) -> Action:
    return Action(name, frozenset(sources), target, frozenset(targets or ()))


#: action name → where it may start and where it ends.
ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        _a("submit", {None}, None, {TRIAGE, ASSIGNED}),
        _a("dispatch", {TRIAGE}, ASSIGNED),  # coordinator confirms/corrects and routes
        _a("accept", {ASSIGNED}, ACCEPTED),  # 签收
        _a("return", {ASSIGNED, ACCEPTED}, TRIAGE),  # "not ours", reason required
        _a("transfer", {ASSIGNED, ACCEPTED}, ASSIGNED),  # to another department
        _a("resolve", {ACCEPTED}, RESOLVED),  # public summary required
        _a("reopen", {RESOLVED}, ASSIGNED),  # resident: not resolved
        _a("close", {RESOLVED, TRIAGE}, CLOSED),  # verdict, timeout, or invalid/duplicate
    )
}

#: Events that do not change status (notes, replies, contact, escalation, me-too, verdicts …).
NON_STATUS_EVENTS = frozenset(
    {
        "note",
        "reply",
        "contact",
        "co_handle_requested",
        "co_handle_done",
        "transfer_requested",
        "transfer_rejected",
        "escalated",
        "me_too",
        "verdict",
        "attachment",
        "recategorised",
    }
)

#: Public event types that are pushed to the case's followers (the outbox).
NOTIFY_EVENTS = frozenset(
    {"submit", "dispatch", "accept", "transfer", "return", "resolve", "reopen", "close", "reply"}
)


def can_transition(case: Case, action: str) -> bool:
    spec = ACTIONS.get(action)
    return spec is not None and spec.allowed_from(case.status)


def transition(
    session: Session,
    case: Case,
    action: str,
    *,
    actor: User | None,
    actor_role: str | None = None,
    target: str | None = None,
    note: str | None = None,
    public: bool = True,
    department_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    """Move ``case`` by ``action`` and write exactly one event. Raises InvalidTransition."""
    spec = ACTIONS.get(action)
    current = case.status if case.id is not None or action != "submit" else None
    if action == "submit":
        current = None
    if spec is None or not spec.allowed_from(current):
        raise InvalidTransition(
            f"cannot {action} a case that is {case.status or 'new'}", action=action, status=case.status
        )
    new_status = spec.target or target
    if new_status is None or (spec.target is None and new_status not in spec.targets):
        raise InvalidTransition(f"{action} needs a target among {sorted(spec.targets)}")
    case.status = new_status
    now = utcnow()
    stamps = {ASSIGNED: "assigned_at", ACCEPTED: "accepted_at", RESOLVED: "resolved_at", CLOSED: "closed_at"}
    if new_status in stamps:
        setattr(case, stamps[new_status], now)
    return record_event(
        session,
        case,
        action,
        actor=actor,
        actor_role=actor_role,
        from_status=current,
        to_status=new_status,
        note=note,
        public=public,
        department_id=department_id,
        data=data,
    )


def record_event(
    session: Session,
    case: Case,
    type_: str,
    *,
    actor: User | None,
    actor_role: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
    public: bool = True,
    department_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    """Append an event (status-changing ones come through :func:`transition`) and fan out
    notifications to the case's followers in the same transaction (transactional outbox)."""
    if type_ not in ACTIONS and type_ not in NON_STATUS_EVENTS:
        raise ValueError(f"unknown case event type {type_!r}")
    event = CaseEvent(
        case=case,
        type=type_,
        actor=actor,
        actor_role=actor_role or (actor.role if actor is not None else "system"),
        department_id=department_id,
        from_status=from_status,
        to_status=to_status,
        note=note,
        public=public,
        data=data or {},
        created_at=utcnow(),
    )
    session.add(event)
    if case.id is None:
        # A case being submitted: nobody follows it yet, so there is nothing to fan out and the
        # caller's single flush writes the case and its first event together.
        return event
    session.flush()
    if public and type_ in NOTIFY_EVENTS:
        enqueue_notifications(session, case, event)
    return event


def enqueue_notifications(session: Session, case: Case, event: CaseEvent) -> None:
    """Write one outbox row per follower (not the actor): public fields only. A system message
    on the event travels with it, so the feed puts it in each recipient's language."""
    followers = session.execute(
        select(CaseFollower.user_id, CaseFollower.reason).where(CaseFollower.case_id == case.id)
    ).all()
    kind = "reply" if event.type == "reply" else "status_changed"
    message = message_of(event.data)
    extra = {MESSAGE_KEY: message} if message is not None else {}
    for user_id, reason in followers:
        if event.actor_id is not None and user_id == event.actor_id:
            continue
        session.add(
            Notification(
                user_id=user_id,
                case_id=case.id,
                event_id=event.id,
                kind=kind,
                payload={
                    "tracking_number": case.tracking_number,
                    "event": event.type,
                    "status": case.status,
                    "note": event.note,
                    **extra,
                },
            )
        )
        if event.type == "resolve" and reason == "submitter":
            session.add(
                Notification(
                    user_id=user_id,
                    case_id=case.id,
                    event_id=event.id,
                    kind="verdict_request",
                    payload={"tracking_number": case.tracking_number, "note": event.note, **extra},
                )
            )
