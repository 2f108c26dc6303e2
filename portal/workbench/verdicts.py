"""The resident's verdict (回访) on a resolved case, and closing cases left unrated.

"Not resolved" reopens the case to the same department with the resident's (masked) comment;
"resolved" closes it. After ``verdict_days`` without an answer the case closes as unrated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import permissions
from portal.cases.models import CHANNELS, Case, CaseEvent
from portal.cases.status import RESOLVED, record_event, transition
from portal.db import utcnow
from portal.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
from portal.workbench.handling import (
    apply_due_dates,
    concurrent_change_guard,
    lead_task,
    mask_public_text,
)
from portal.workbench.models import Verdict

MAX_COMMENT_CHARS = 2000


def resolution_round(session: Session, case: Case) -> int:
    """How many times the case has been resolved: the round a verdict now answers."""
    return (
        session.scalar(
            select(func.count(CaseEvent.id)).where(
                CaseEvent.case_id == case.id, CaseEvent.type == "resolve"
            )
        )
        or 0
    )


def verdict_for_round(session: Session, case: Case, round_: int) -> Verdict | None:
    return session.scalar(
        select(Verdict).where(Verdict.case_id == case.id, Verdict.round == round_)
    )


def awaiting_verdict(session: Session, case: Case, user: Any) -> bool:
    """True when ``user`` is the submitter and the current resolution has no verdict yet."""
    return (
        case.status == RESOLVED
        and permissions.can_give_verdict(user, case)
        and verdict_for_round(session, case, resolution_round(session, case)) is None
    )


def _check_satisfaction(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError(_("Satisfaction is a score from 1 to 5."), field="satisfaction")
    try:
        score = int(value)
    except (TypeError, ValueError):
        raise ValidationError(
            _("Satisfaction is a score from 1 to 5."), field="satisfaction"
        ) from None
    if score != value and str(score) != str(value).strip():
        raise ValidationError(_("Satisfaction is a score from 1 to 5."), field="satisfaction")
    if not 1 <= score <= 5:
        raise ValidationError(_("Satisfaction is a score from 1 to 5."), field="satisfaction")
    return score


def record_verdict(
    session: Session,
    *,
    case: Case,
    user: Any,
    resolved: bool,
    satisfaction: int | None = None,
    comment: str | None = None,
    channel: str = "web",
) -> Verdict:
    """The submitter answers "was it resolved? how satisfied (1–5)?" once per resolution.

    Raises PermissionDenied (not the submitter), InvalidTransition (case not awaiting a verdict),
    Conflict (this resolution already rated), ValidationError (bad score/comment/channel).
    """
    if not permissions.can_give_verdict(user, case):
        raise PermissionDenied(_("Only the resident who reported this case can rate it."))
    if case.status != RESOLVED:
        raise InvalidTransition(_("This case is not waiting for your verdict."), status=case.status)
    if not isinstance(resolved, bool):
        raise ValidationError(_("Say whether the problem was resolved."), field="resolved")
    score = _check_satisfaction(satisfaction)
    text = (comment or "").strip() or None
    if text is not None and len(text) > MAX_COMMENT_CHARS:
        raise ValidationError(
            _("Please keep your comment under %(n)d characters.", n=MAX_COMMENT_CHARS),
            field="comment",
        )
    if channel not in CHANNELS:
        raise ValidationError(_("Unknown channel."), field="channel")
    round_ = resolution_round(session, case)
    if verdict_for_round(session, case, round_) is not None:
        raise Conflict(_("You have already rated this resolution."))
    masked = mask_public_text(text) if text else None
    now = utcnow()
    verdict = Verdict(
        case=case,
        round=round_,
        outcome="resolved" if resolved else "not_resolved",
        resolved=resolved,
        satisfaction=score,
        comment=masked,
        channel=channel,
        user_id=user.id,
        case_resolved_at=case.resolved_at,
        created_at=now,
    )
    session.add(verdict)
    with concurrent_change_guard():
        record_event(
            session,
            case,
            "verdict",
            actor=user,
            actor_role="resident",
            public=False,
            data={"round": round_, "resolved": resolved, "satisfaction": score, "channel": channel},
        )
        if resolved:
            transition(
                session,
                case,
                "close",
                actor=user,
                actor_role="resident",
                data={"outcome": "resolved", "round": round_},
            )
        else:
            task = lead_task(case)
            if task is not None:
                task.status = "open"
                task.accepted_at = None
                task.done_at = None
            deadlines = apply_due_dates(session, case, case.sla_profile, now)
            transition(
                session,
                case,
                "reopen",
                actor=user,
                actor_role="resident",
                note=masked,
                public=True,
                department_id=case.lead_department_id,
                data={"round": round_, **deadlines},
            )
    return verdict


@dataclass(frozen=True)
class UnratedSummary:
    closed: list[str]  # tracking numbers
    cutoff: datetime


def close_unrated(
    session: Session, *, now: datetime | None = None, days: int | None = None
) -> UnratedSummary:
    """Close cases resolved more than ``days`` (setting ``verdict_days``) ago and still unrated.

    Idempotent: a closed case is no longer resolved, so a second run finds nothing to do.
    """
    from portal.jurisdiction.services import get_setting

    now = now or utcnow()
    days = int(get_setting(session, "verdict_days")) if days is None else days
    cutoff = now - timedelta(days=days)
    cases = session.scalars(
        select(Case)
        .where(Case.status == RESOLVED, Case.resolved_at <= cutoff)
        .order_by(Case.resolved_at, Case.id)
    ).all()
    closed: list[str] = []
    for case in cases:
        round_ = resolution_round(session, case)
        if verdict_for_round(session, case, round_) is not None:
            continue
        session.add(
            Verdict(
                case=case,
                round=round_,
                outcome="unrated",
                resolved=None,
                satisfaction=None,
                channel="system",
                case_resolved_at=case.resolved_at,
                created_at=now,
            )
        )
        with concurrent_change_guard():
            record_event(
                session,
                case,
                "verdict",
                actor=None,
                actor_role="system",
                public=False,
                data={"round": round_, "outcome": "unrated"},
            )
            transition(
                session,
                case,
                "close",
                actor=None,
                actor_role="system",
                note=None,
                data={"outcome": "unrated", "round": round_, "verdict_days": days},
            )
        closed.append(case.tracking_number)
    return UnratedSummary(closed=closed, cutoff=cutoff)
