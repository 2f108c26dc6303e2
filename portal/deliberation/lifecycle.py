"""The proposal lifecycle, defined once: statuses, the actions between them, and their events.

    open ──reach_threshold──► threshold_reached ──route──► under_review ──answer──► answered
      │                              └──────────────answer──────────────────┘         │
      ├──withdraw──► withdrawn                                      start_implementation
      └──archive───► archived (support window ended below the threshold)              ▼
                                                         in_implementation ──complete──► done

Every status change goes through :func:`transition_proposal`: a conditional
``UPDATE … WHERE status = <expected>`` so two requests racing for the same change (two supports
crossing the threshold, a withdrawal against the last support) cannot both win, then exactly one
:class:`ProposalEvent`.

Once routed, a proposal owes its residents a formal answer (:data:`AWAITING_ANSWER`). Its linked
case is closed by that answer and by nothing else: the workbench asks
:func:`proposal_awaiting_answer` before it resolves or closes a case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.db import utcnow
from portal.deliberation.models import Proposal, ProposalEvent
from portal.errors import InvalidTransition
from portal.system_messages import KEY as MESSAGE_KEY

OPEN = "open"
THRESHOLD_REACHED = "threshold_reached"
UNDER_REVIEW = "under_review"
ANSWERED = "answered"
IN_IMPLEMENTATION = "in_implementation"
DONE = "done"
WITHDRAWN = "withdrawn"
ARCHIVED = "archived"

STATUSES = (
    OPEN,
    THRESHOLD_REACHED,
    UNDER_REVIEW,
    ANSWERED,
    IN_IMPLEMENTATION,
    DONE,
    WITHDRAWN,
    ARCHIVED,
)
#: Statuses in which the department still owes or is delivering something.
ACTIVE_STATUSES = frozenset({OPEN, THRESHOLD_REACHED, UNDER_REVIEW, ANSWERED, IN_IMPLEMENTATION})

STATUS_LABELS = {
    OPEN: _l("Open for support"),
    THRESHOLD_REACHED: _l("Threshold reached, waiting for a department"),
    UNDER_REVIEW: _l("Under review by the department"),
    ANSWERED: _l("Answered"),
    IN_IMPLEMENTATION: _l("Being implemented"),
    DONE: lazy_pgettext("proposal status", "Done"),
    WITHDRAWN: _l("Withdrawn by the author"),
    ARCHIVED: _l("Archived: support window ended"),
}

EVENT_LABELS = {
    "create": _l("Proposal published"),
    "reach_threshold": _l("Support threshold reached"),
    "route": _l("Sent to the department for an answer"),
    "answer": _l("Official answer"),
    "start_implementation": _l("Implementation started"),
    "complete": _l("Implementation finished"),
    "withdraw": _l("Withdrawn by the author"),
    "archive": _l("Archived"),
    "progress": _l("Progress update"),
    "moderation": _l("Moderation"),
}

OUTCOME_LABELS = {
    "accepted": _l("Accepted"),
    "partly_accepted": _l("Partly accepted"),
    "rejected": _l("Rejected"),
}


@dataclass(frozen=True)
class ProposalAction:
    name: str
    sources: frozenset[str | None]
    target: str


ACTIONS: dict[str, ProposalAction] = {
    a.name: a
    for a in (
        ProposalAction("create", frozenset({None}), OPEN),
        ProposalAction("reach_threshold", frozenset({OPEN}), THRESHOLD_REACHED),
        ProposalAction("route", frozenset({THRESHOLD_REACHED}), UNDER_REVIEW),
        ProposalAction("answer", frozenset({THRESHOLD_REACHED, UNDER_REVIEW}), ANSWERED),
        ProposalAction("start_implementation", frozenset({ANSWERED}), IN_IMPLEMENTATION),
        ProposalAction("complete", frozenset({IN_IMPLEMENTATION}), DONE),
        ProposalAction("withdraw", frozenset({OPEN}), WITHDRAWN),
        ProposalAction("archive", frozenset({OPEN}), ARCHIVED),
    )
}

#: Events that record something without changing the status.
NON_STATUS_EVENTS = frozenset({"progress", "moderation"})

#: Statuses in which the proposal still owes its residents the department's formal answer (where
#: "answer" may start): its linked case may not be resolved or closed without that answer.
AWAITING_ANSWER: frozenset[str | None] = ACTIONS["answer"].sources


def status_label(status: str | None) -> str:
    return str(STATUS_LABELS.get(status or "", status or ""))


def event_label(type_: str) -> str:
    return str(EVENT_LABELS.get(type_, type_))


def outcome_label(outcome: str | None) -> str:
    return str(OUTCOME_LABELS.get(outcome or "", outcome or ""))


def proposal_awaiting_answer(session: Session, case_id: int | None) -> Proposal | None:
    """The proposal whose formal answer the case ``case_id`` still carries, if any."""
    if case_id is None:
        return None
    return session.scalar(
        select(Proposal).where(Proposal.case_id == case_id, Proposal.status.in_(AWAITING_ANSWER))
    )


def can_transition(proposal: Proposal, action: str) -> bool:
    spec = ACTIONS.get(action)
    return spec is not None and proposal.status in spec.sources


def transition_proposal(
    session: Session,
    proposal: Proposal,
    action: str,
    *,
    actor: User | None,
    note: str | None = None,
    message: dict[str, Any] | None = None,
) -> ProposalEvent:
    """Move ``proposal`` by ``action`` if nobody moved it first; exactly one event (``note``: a
    person's words; ``message``: what the system says, from :func:`portal.system_messages.
    system_message`, translated when read).

    Raises InvalidTransition when the action is not allowed from the current status, including
    when a concurrent transaction changed the status between our read and our write.
    """
    spec = ACTIONS.get(action)
    if spec is None or action == "create":
        raise ValueError(f"unknown proposal action {action!r}")
    current = proposal.status
    if current not in spec.sources:
        raise InvalidTransition(
            str(
                _l(
                    "This proposal is %(status)s: that is not possible now.",
                    status=status_label(current),
                )
            ),
            action=action,
            status=current,
        )
    now = utcnow()
    result = session.execute(
        update(Proposal)
        .where(Proposal.id == proposal.id, Proposal.status == current)
        .values(status=spec.target, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(proposal, ["status"])
        raise InvalidTransition(
            str(_l("Someone else changed this proposal first; please reload the page.")),
            action=action,
            status=proposal.status,
        )
    session.refresh(proposal, ["status", "updated_at"])
    return record_proposal_event(
        session,
        proposal,
        action,
        actor=actor,
        from_status=current,
        to_status=spec.target,
        note=note,
        message=message,
    )


def record_proposal_event(
    session: Session,
    proposal: Proposal,
    type_: str,
    *,
    actor: User | None,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
    message: dict[str, Any] | None = None,
) -> ProposalEvent:
    """Append one event to the proposal's public history (status changes come through
    :func:`transition_proposal`, creation through the create service)."""
    if type_ not in ACTIONS and type_ not in NON_STATUS_EVENTS:
        raise ValueError(f"unknown proposal event type {type_!r}")
    event = ProposalEvent(
        proposal_id=proposal.id,
        type=type_,
        actor_id=actor.id if actor is not None else None,
        actor_role=actor.role if actor is not None else "system",
        from_status=from_status,
        to_status=to_status,
        note=note,
        data={MESSAGE_KEY: message} if message is not None else {},
        created_at=utcnow(),
    )
    session.add(event)
    session.flush()
    return event
