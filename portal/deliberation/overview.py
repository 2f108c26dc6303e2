"""What a reader sees of a proposal: the for/against overview of its thread (counts and the
terms that characterise each side) and the public representations used by the web, the API and
the bot. Never the raw body or anyone's personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import nlp
from portal.deliberation import lifecycle as lc
from portal.deliberation.models import STANCES, VISIBLE, Comment, Proposal
from portal.deliberation.services import archive_message, mask_text
from portal.system_messages import event_note, message_of, render_message


@dataclass(frozen=True)
class StanceOverview:
    counts: dict[str, int]
    terms: dict[str, list[str]]  # for / against → characteristic terms (jieba keywords)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def share(self, stance: str) -> int:
        return round(100 * self.counts.get(stance, 0) / self.total) if self.total else 0


def stance_overview(
    session: Session, *, proposal_id: int | None = None, case_id: int | None = None, terms: int = 6
) -> StanceOverview:
    """Counts per stance of the visible comments and the terms that characterise each side."""
    target = (
        Comment.proposal_id == proposal_id
        if proposal_id is not None
        else Comment.case_id == case_id
    )
    rows = session.execute(
        select(Comment.stance, Comment.body).where(
            target, Comment.deleted_at.is_(None), Comment.moderation == VISIBLE
        )
    ).all()
    counts = {stance: 0 for stance in STANCES}
    texts: dict[str, list[str]] = {"for": [], "against": []}
    for stance, body in rows:
        counts[stance] = counts.get(stance, 0) + 1
        if stance in texts:
            texts[stance].append(mask_text(nlp.normalize(body)))
    return StanceOverview(
        counts=counts,
        terms={
            side: nlp.top_terms(bodies, terms) if bodies else [] for side, bodies in texts.items()
        },
    )


def proposal_summary(proposal: Proposal, *, distance: float | None = None) -> dict[str, Any]:
    """The public fields of a proposal (web lists, ``/api/v1``, the bot). Never the raw body."""
    category = proposal.category
    area = proposal.area
    return {
        "id": proposal.id,
        "title": proposal.title if proposal.moderation == VISIBLE else None,
        "status": proposal.status,
        "status_label": lc.status_label(proposal.status),
        "category": {"code": category.code, "name": category.name}
        if category is not None
        else None,
        "area": {"code": area.code, "name": area.name} if area is not None else None,
        "support_count": proposal.support_count,
        "support_threshold": proposal.support_threshold,
        "support_deadline": proposal.support_deadline.isoformat(),
        "created_at": proposal.created_at.isoformat(),
        "distance_m": distance,
        "url": f"/proposals/{proposal.id}",
    }


def proposal_detail(session: Session, proposal: Proposal) -> dict[str, Any]:
    overview = stance_overview(session, proposal_id=proposal.id)
    case = proposal.case
    return {
        **proposal_summary(proposal),
        "body": proposal.body_masked if proposal.moderation == VISIBLE else None,
        "hidden": proposal.moderation != VISIBLE,
        "tracking_number": case.tracking_number if case is not None else None,
        "department": (
            {"code": case.lead_department.code, "name": case.lead_department.name}
            if case is not None and case.lead_department is not None
            else None
        ),
        "answer": (
            {
                "outcome": proposal.answer_outcome,
                "outcome_label": lc.outcome_label(proposal.answer_outcome),
                "text": proposal.answer_text,
                "reasons": proposal.answer_reasons,
                "answered_at": proposal.answered_at.isoformat() if proposal.answered_at else None,
            }
            if proposal.answer_outcome
            else None
        ),
        "progress": proposal.progress,
        "milestones": [
            {"date": m.on_date.isoformat(), "title": m.title, "progress": m.progress}
            for m in proposal.milestones
        ],
        "closed_reason": closed_reason(proposal),
        "closed_reason_message": closed_reason_message(proposal),
        "overview": {
            "counts": overview.counts,
            "terms": overview.terms,
        },
        "timeline": [
            {
                "type": e.type,
                "label": lc.event_label(e.type),
                "at": e.created_at.isoformat(),
                "status": e.to_status,
                "note": event_note(e),
                "message": message_of(e.data),
            }
            for e in proposal.events
        ],
    }


def closed_reason_message(proposal: Proposal) -> dict[str, Any] | None:
    """An archived proposal's reason as a message code with its arguments (None otherwise)."""
    return archive_message(proposal) if proposal.status == lc.ARCHIVED else None


def closed_reason(proposal: Proposal) -> str | None:
    """Why the proposal closed, for a reader: the author's words when withdrawn; when archived,
    the system's reason in the reader's language (also for proposals archived before reasons were
    stored as codes, whose stored text was in the server's language)."""
    message = closed_reason_message(proposal)
    if message is not None:
        return render_message(message) or proposal.closed_reason
    return proposal.closed_reason
