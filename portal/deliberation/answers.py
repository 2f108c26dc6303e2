"""The department's side of a proposal: the official answer with its reasons, then the
implementation with dated milestones and progress. Who may do it: ``can_answer_proposal`` (staff
of the department leading the proposal's linked case). Services flush; the edge commits.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import permissions
from portal.accounts.models import User
from portal.cases.status import ACCEPTED, ASSIGNED
from portal.db import utcnow
from portal.deliberation import lifecycle as lc
from portal.deliberation.models import ANSWER_OUTCOMES, Proposal, ProposalMilestone
from portal.deliberation.services import (
    MAX_ANSWER_CHARS,
    MAX_REASON_CHARS,
    MIN_ANSWER_CHARS,
    clean_text,
    mask_text,
    notify_followers,
    sync_review_status,
)
from portal.errors import InvalidTransition, PermissionDenied, ValidationError
from portal.system_messages import system_message
from portal.workbench.handling import MAX_NOTE_CHARS


def answer_proposal(
    session: Session,
    *,
    proposal: Proposal,
    actor: User,
    outcome: str,
    answer: str,
    reasons: str,
) -> Proposal:
    """The department's official, public answer with its reasons. Also accepts and resolves the
    linked case in the workbench (its author gets the usual verdict request): the only way that
    case is resolved while the proposal awaits its answer. A case already resolved or closed
    before this rule stays as it is. Flushes."""
    if not permissions.can_answer_proposal(actor, proposal):
        raise PermissionDenied(_("Only the department handling this proposal can answer it."))
    if outcome not in ANSWER_OUTCOMES:
        raise ValidationError(_("Choose accepted, partly accepted or rejected."), field="outcome")
    answer = clean_text(
        answer,
        field="answer",
        minimum=MIN_ANSWER_CHARS,
        maximum=MAX_ANSWER_CHARS,
        what=_("The answer"),
    )
    reasons = clean_text(
        reasons, field="reasons", minimum=4, maximum=MAX_ANSWER_CHARS, what=_("The reasons")
    )
    sync_review_status(session, proposal)
    if not lc.can_transition(proposal, "answer"):
        raise InvalidTransition(
            _(
                "This proposal is %(status)s: it cannot be answered now.",
                status=lc.status_label(proposal.status),
            )
        )
    case = proposal.case
    assert case is not None  # can_answer_proposal needs a routed case
    from portal.workbench.services import accept_case, resolve_case

    proposal.answer_outcome = outcome
    proposal.answer_text = mask_text(answer)
    proposal.answer_reasons = mask_text(reasons)
    proposal.answered_at = utcnow()
    proposal.answered_by_department_id = case.lead_department_id
    session.flush()
    # The proposal is answered first: the workbench refuses to resolve a case whose proposal
    # still awaits its answer. One transaction, so a failure below undoes the answer too.
    lc.transition_proposal(
        session,
        proposal,
        "answer",
        actor=actor,
        message=system_message("proposal_outcome", outcome=outcome),
    )
    if case.status == ASSIGNED:
        accept_case(session, case=case, actor=actor)
    if case.status == ACCEPTED:
        resolve_case(
            session,
            case=case,
            actor=actor,
            summary=case_summary(proposal.answer_text, proposal.answer_reasons),
            message=case_summary_message(outcome, proposal.answer_text, proposal.answer_reasons),
        )
    notify_followers(
        session,
        proposal,
        "answered",
        note=proposal.title,
        message=system_message("proposal_answered", outcome=outcome, title=proposal.title),
    )
    return proposal


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def case_summary(answer: str | None, reasons: str | None) -> str:
    """The linked case's resolution note as stored: the department's words only (the answer,
    then its reasons, masked), shortened to what a case note holds. Readers see
    :func:`case_summary_message` instead, which frames them in their language."""
    return _shorten("\n".join(t for t in (answer, reasons) if t), MAX_NOTE_CHARS)


def case_summary_message(outcome: str, answer: str | None, reasons: str | None) -> dict[str, Any]:
    """The linked case's public resolution as a message: the decision, the answer and its
    reasons, shortened to what a case note holds (the proposal page keeps the full text)."""
    answer, reasons = answer or "", reasons or ""
    budget = MAX_NOTE_CHARS - 40  # room for the decision and "Reasons:" in any language
    return system_message(
        "proposal_answer_summary",
        outcome=outcome,
        answer=_shorten(answer, max(budget // 2, budget - len(reasons))),
        reasons=_shorten(reasons, max(budget // 2, budget - len(answer))),
    )


def start_implementation(
    session: Session, *, proposal: Proposal, actor: User, plan: str
) -> Proposal:
    if not permissions.can_answer_proposal(actor, proposal):
        raise PermissionDenied(_("Only the department handling this proposal can update it."))
    if proposal.answer_outcome == "rejected":
        raise InvalidTransition(_("A rejected proposal is not implemented."))
    plan = clean_text(plan, field="plan", minimum=4, maximum=MAX_REASON_CHARS, what=_("The plan"))
    lc.transition_proposal(
        session, proposal, "start_implementation", actor=actor, note=mask_text(plan)
    )
    notify_followers(session, proposal, "in_implementation")
    return proposal


def record_progress(
    session: Session,
    *,
    proposal: Proposal,
    actor: User,
    progress: int,
    milestone: str,
    on_date: date | None = None,
) -> Proposal:
    """A dated milestone with the progress reached (0–100 %, never backwards). 100 % → done."""
    if not permissions.can_answer_proposal(actor, proposal):
        raise PermissionDenied(_("Only the department handling this proposal can update it."))
    if proposal.status != lc.IN_IMPLEMENTATION:
        raise InvalidTransition(
            _("Progress is recorded only while the proposal is being implemented.")
        )
    if isinstance(progress, bool) or not isinstance(progress, int) or not 0 <= progress <= 100:
        raise ValidationError(_("Progress is a whole number from 0 to 100."), field="progress")
    if progress < proposal.progress:
        raise ValidationError(
            _("Progress cannot go back (it is %(n)d%% now).", n=proposal.progress), field="progress"
        )
    milestone = clean_text(
        milestone, field="milestone", minimum=2, maximum=200, what=_("The milestone")
    )
    on_date = on_date or utcnow().date()
    session.add(
        ProposalMilestone(
            proposal_id=proposal.id,
            on_date=on_date,
            title=mask_text(milestone),
            progress=progress,
            created_at=utcnow(),
        )
    )
    proposal.progress = progress
    session.flush()
    lc.record_proposal_event(
        session, proposal, "progress", actor=actor, note=f"{progress}% · {mask_text(milestone)}"
    )
    if progress == 100:
        lc.transition_proposal(session, proposal, "complete", actor=actor)
        notify_followers(session, proposal, "done")
    return proposal
