"""Retention: personal data of closed cases and finished proposals is erased or coarsened when
its time is up.

Data classes and their rules for cases (days after the case was closed; jurisdiction settings):

- ``contacts`` (``retention_contact_days``): the contact row (name, phone) is deleted;
- ``raw_text`` (``retention_raw_text_days``): the raw text is replaced by the masked text and the
  exact address erased;
- ``coordinates`` (``retention_coordinates_days``): the point is rounded to about 100 m;
- ``comments`` (``retention_raw_text_days``, like the raw text): every comment of the case's
  public thread (replies, hidden and deleted ones included) is replaced by its ``nlp.mask_pii``
  text and the thread is closed for comments and edits
  (:func:`portal.deliberation.threads.case_thread_retained`). A step of its own, with a mark of
  its own, so that cases whose raw text an earlier run (before the step existed) already
  processed are reached too.

Proposals, from the moment they are finished (done, answered with a rejection, withdrawn or
archived: the time of the event that gave them that status), with the same periods:

- ``raw_text``: the author's original text is replaced by the public (masked) text, and every
  comment of its thread (hidden and deleted ones included) by its ``nlp.mask_pii`` text; the
  thread is then closed (:func:`portal.deliberation.threads.thread_retained`). Title, answer,
  reasons, history and milestones were masked when written and stay, as do the counts and the
  author link (internal, like a case's submitter: "my data" and account erasure go through it);
- ``coordinates``: the point is rounded to about 100 m.

Crash safety: each case (each proposal) is handled in its own transaction that applies every step
due for it and writes one :class:`~portal.privacy.models.RetentionMark`
(:class:`~portal.privacy.models.ProposalRetentionMark`) per step — a row has the mark exactly
when its step is complete. Killing the job at any moment leaves every case and proposal either
fully processed for a step or untouched; a re-run picks up the rest (idempotent: marked steps are
skipped).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

import nlp
from portal.audit.services import record_audit
from portal.cases.models import Case
from portal.cases.status import CLOSED
from portal.db import utcnow
from portal.deliberation import lifecycle as lc
from portal.deliberation.models import Comment, Proposal, ProposalEvent
from portal.jurisdiction.services import get_setting
from portal.privacy.models import ProposalRetentionMark, RetentionMark
from portal.privacy.services import round_coordinate

#: Data class → the jurisdiction setting holding its retention period in days.
DATA_CLASSES: dict[str, str] = {
    "contacts": "retention_contact_days",
    "raw_text": "retention_raw_text_days",
    "coordinates": "retention_coordinates_days",
    "comments": "retention_raw_text_days",
}
#: The data classes that apply to proposals (same settings, counted from the finish).
PROPOSAL_DATA_CLASSES: tuple[str, ...] = ("raw_text", "coordinates")
#: Proposal statuses that end its life, whatever the outcome (plus ``answered`` with a rejection,
#: which nothing follows; an accepted answer goes on to implementation).
FINISHED_STATUSES = (lc.DONE, lc.WITHDRAWN, lc.ARCHIVED)
RETENTION_ACTOR = "system:retention"
#: Test-only (honoured when ENV is "testing"): SIGKILL the process after this many cases and
#: proposals (cases first), in the middle of the next one's transaction (flushed, not committed).
CRASH_ENV = "SHUZHI_RETENTION_CRASH_AFTER"


@dataclass
class RetentionSummary:
    run_id: int
    cutoffs: dict[str, str]
    cases: int = 0
    steps: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DATA_CLASSES, 0))
    conflicts: int = 0
    #: Comments whose text changed when their case's ``comments`` step was applied.
    case_comments_masked: int = 0
    proposals: int = 0
    proposal_steps: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(PROPOSAL_DATA_CLASSES, 0)
    )
    #: Comments whose text changed when their proposal's raw text step was applied.
    comments_masked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "steps": dict(self.steps),
            "conflicts": self.conflicts,
            "case_comments_masked": self.case_comments_masked,
            "proposals": self.proposals,
            "proposal_steps": dict(self.proposal_steps),
            "comments_masked": self.comments_masked,
            "cutoffs": self.cutoffs,
        }


def retention_days(session: Session) -> dict[str, int]:
    return {data_class: int(get_setting(session, key)) for data_class, key in DATA_CLASSES.items()}


def _due_condition(data_class: str, cutoff: datetime) -> Any:
    marked = exists().where(
        RetentionMark.case_id == Case.id, RetentionMark.data_class == data_class
    )
    return and_(
        Case.status == CLOSED, Case.closed_at.is_not(None), Case.closed_at <= cutoff, ~marked
    )


def eligible_case_ids(session: Session, cutoffs: dict[str, datetime]) -> list[int]:
    """Ids of closed cases with at least one retention step due and not yet applied."""
    ids: set[int] = set()
    for data_class, cutoff in cutoffs.items():
        ids.update(session.scalars(select(Case.id).where(_due_condition(data_class, cutoff))))
    return sorted(ids)


def _mask_comments(session: Session, thread: Any) -> int:
    """Replace every comment of a thread (``Comment.case_id == …`` or ``Comment.proposal_id ==
    …``; replies, hidden and deleted ones included) by its masked text; the number that changed."""
    changed = 0
    for comment in session.scalars(select(Comment).where(thread).order_by(Comment.id)):
        masked = nlp.mask_pii(comment.body).text if comment.body else comment.body
        if masked != comment.body:
            comment.body = masked
            changed += 1
    return changed


def _apply_steps(
    session: Session, case: Case, cutoffs: dict[str, datetime], run_id: int
) -> tuple[list[str], int]:
    """Apply every step due for ``case`` (re-checked inside this transaction): the steps applied
    and the number of comments masked. Flush, no commit."""
    done = set(
        session.scalars(select(RetentionMark.data_class).where(RetentionMark.case_id == case.id))
    )
    applied: list[str] = []
    comments = 0
    if case.status != CLOSED or case.closed_at is None:
        return applied, comments
    for data_class, cutoff in cutoffs.items():
        if data_class in done or case.closed_at > cutoff:
            continue
        if data_class == "contacts":
            if case.contact is not None:
                session.delete(case.contact)
                case.contact = None
        elif data_class == "raw_text":
            case.text_raw = case.text_masked
            case.address_text = None
        elif data_class == "coordinates":
            case.lat, case.lon = round_coordinate(case.lat), round_coordinate(case.lon)
        elif data_class == "comments":
            comments = _mask_comments(session, Comment.case_id == case.id)
        session.add(RetentionMark(case_id=case.id, data_class=data_class, run_id=run_id))
        applied.append(data_class)
    session.flush()
    return applied, comments


# --- proposals ----------------------------------------------------------------------------------


def is_finished(proposal: Proposal) -> bool:
    """Done, withdrawn, archived, or answered with a rejection: nothing more will happen to it."""
    return proposal.status in FINISHED_STATUSES or (
        proposal.status == lc.ANSWERED and proposal.answer_outcome == "rejected"
    )


def _finished_condition() -> Any:
    return or_(
        Proposal.status.in_(FINISHED_STATUSES),
        and_(Proposal.status == lc.ANSWERED, Proposal.answer_outcome == "rejected"),
    )


def _finished_at() -> Any:
    """When the proposal got its present status (the event that moved it there)."""
    return (
        select(func.max(ProposalEvent.created_at))
        .where(ProposalEvent.proposal_id == Proposal.id, ProposalEvent.to_status == Proposal.status)
        .correlate(Proposal)
        .scalar_subquery()
    )


def _proposal_due_condition(data_class: str, cutoff: datetime) -> Any:
    marked = exists().where(
        ProposalRetentionMark.proposal_id == Proposal.id,
        ProposalRetentionMark.data_class == data_class,
    )
    return and_(_finished_condition(), _finished_at() <= cutoff, ~marked)


def eligible_proposal_ids(session: Session, cutoffs: dict[str, datetime]) -> list[int]:
    """Ids of finished proposals with at least one retention step due and not yet applied."""
    ids: set[int] = set()
    for data_class in PROPOSAL_DATA_CLASSES:
        condition = _proposal_due_condition(data_class, cutoffs[data_class])
        ids.update(session.scalars(select(Proposal.id).where(condition)))
    return sorted(ids)


def _apply_proposal_steps(
    session: Session, proposal: Proposal, cutoffs: dict[str, datetime], run_id: int
) -> tuple[list[str], int]:
    """Apply every step due for ``proposal`` (re-checked inside this transaction): the steps
    applied and the number of comments masked. Flush, no commit."""
    if not is_finished(proposal):
        return [], 0
    finished_at = session.scalar(
        select(func.max(ProposalEvent.created_at)).where(
            ProposalEvent.proposal_id == proposal.id, ProposalEvent.to_status == proposal.status
        )
    )
    if finished_at is None:
        return [], 0
    done = set(
        session.scalars(
            select(ProposalRetentionMark.data_class).where(
                ProposalRetentionMark.proposal_id == proposal.id
            )
        )
    )
    applied: list[str] = []
    comments = 0
    for data_class in PROPOSAL_DATA_CLASSES:
        if data_class in done or finished_at > cutoffs[data_class]:
            continue
        if data_class == "raw_text":
            proposal.body_raw = proposal.body_masked
            comments = _mask_comments(session, Comment.proposal_id == proposal.id)
        elif data_class == "coordinates":
            proposal.lat = round_coordinate(proposal.lat)
            proposal.lon = round_coordinate(proposal.lon)
        session.add(
            ProposalRetentionMark(proposal_id=proposal.id, data_class=data_class, run_id=run_id)
        )
        applied.append(data_class)
    session.flush()
    return applied, comments


# --- the run ------------------------------------------------------------------------------------


def run_retention(
    session_factory: Callable[[], Session],
    *,
    now: datetime | None = None,
    testing: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_case: Callable[[], None] | None = None,
) -> RetentionSummary:
    """Apply the retention rules, one transaction per case and per proposal; audited as
    ``retention_run`` (one entry when it starts, one with the summary when it ends).

    ``on_start`` gets the number of cases and proposals to visit, ``on_case`` is called after
    each of them."""
    now = now or utcnow()
    crash_after = os.environ.get(CRASH_ENV) if testing else None
    with session_factory() as session:
        days = retention_days(session)
        cutoffs = {data_class: now - timedelta(days=n) for data_class, n in days.items()}
        start = record_audit(
            session,
            actor=RETENTION_ACTOR,
            action="retention_run",
            after={"phase": "started", "days": days},
        )
        run_id = start.id
        session.commit()
        ids = eligible_case_ids(session, cutoffs)
        proposal_ids = eligible_proposal_ids(session, cutoffs)
        session.rollback()
    summary = RetentionSummary(run_id, {k: v.isoformat() for k, v in cutoffs.items()})
    if on_start:
        on_start(len(ids) + len(proposal_ids))
    for case_id in ids:
        with session_factory() as session:
            try:
                case = session.scalar(select(Case).where(Case.id == case_id).with_for_update())
                applied, comments = (
                    _apply_steps(session, case, cutoffs, run_id) if case else ([], 0)
                )
                if crash_after is not None and summary.cases >= int(crash_after):
                    os.kill(os.getpid(), signal.SIGKILL)  # mid-transaction, before the commit
                session.commit()
            except StaleDataError:  # a clerk changed the case meanwhile: next run
                session.rollback()
                summary.conflicts += 1
                applied, comments = [], 0
        if applied:
            summary.cases += 1
            summary.case_comments_masked += comments
            for data_class in applied:
                summary.steps[data_class] += 1
        if on_case:
            on_case()
    for proposal_id in proposal_ids:
        with session_factory() as session:
            proposal = session.scalar(
                select(Proposal).where(Proposal.id == proposal_id).with_for_update()
            )
            applied, comments = (
                _apply_proposal_steps(session, proposal, cutoffs, run_id) if proposal else ([], 0)
            )
            if crash_after is not None and summary.cases + summary.proposals >= int(crash_after):
                os.kill(os.getpid(), signal.SIGKILL)  # mid-transaction, before the commit
            session.commit()
        if applied:
            summary.proposals += 1
            summary.comments_masked += comments
            for data_class in applied:
                summary.proposal_steps[data_class] += 1
        if on_case:
            on_case()
    with session_factory() as session:
        record_audit(
            session,
            actor=RETENTION_ACTOR,
            action="retention_run",
            target_type="audit_entry",
            target_id=run_id,
            after={"phase": "finished", **summary.as_dict()},
        )
        session.commit()
    return summary
