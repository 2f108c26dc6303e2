"""Retention: personal data of closed cases is erased or coarsened when its time is up.

Data classes and their rules (days after the case was closed; jurisdiction settings):

- ``contacts`` (``retention_contact_days``): the contact row (name, phone) is deleted;
- ``raw_text`` (``retention_raw_text_days``): the raw text is replaced by the masked text and the
  exact address erased;
- ``coordinates`` (``retention_coordinates_days``): the point is rounded to about 100 m.

Crash safety: each case is handled in its own transaction that applies every step due for it and
writes one :class:`~portal.privacy.models.RetentionMark` per step — a case has the mark exactly
when its step is complete. Killing the job at any moment leaves every case either fully processed
for a step or untouched; a re-run picks up the rest (idempotent: marked steps are skipped).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from portal.audit.services import record_audit
from portal.cases.models import Case
from portal.cases.status import CLOSED
from portal.db import utcnow
from portal.jurisdiction.services import get_setting
from portal.privacy.models import RetentionMark
from portal.privacy.services import round_coordinate

#: Data class → the jurisdiction setting holding its retention period in days.
DATA_CLASSES: dict[str, str] = {
    "contacts": "retention_contact_days",
    "raw_text": "retention_raw_text_days",
    "coordinates": "retention_coordinates_days",
}
RETENTION_ACTOR = "system:retention"
#: Test-only (honoured when ENV is "testing"): SIGKILL the process after this many cases, in the
#: middle of the next case's transaction (its changes flushed, not committed).
CRASH_ENV = "SHUZHI_RETENTION_CRASH_AFTER"


@dataclass
class RetentionSummary:
    run_id: int
    cutoffs: dict[str, str]
    cases: int = 0
    steps: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DATA_CLASSES, 0))
    conflicts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "steps": dict(self.steps),
            "conflicts": self.conflicts,
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


def _apply_steps(
    session: Session, case: Case, cutoffs: dict[str, datetime], run_id: int
) -> list[str]:
    """Apply every step due for ``case`` (re-checked inside this transaction); flush, no commit."""
    done = set(
        session.scalars(select(RetentionMark.data_class).where(RetentionMark.case_id == case.id))
    )
    applied: list[str] = []
    if case.status != CLOSED or case.closed_at is None:
        return applied
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
        session.add(RetentionMark(case_id=case.id, data_class=data_class, run_id=run_id))
        applied.append(data_class)
    session.flush()
    return applied


def run_retention(
    session_factory: Callable[[], Session],
    *,
    now: datetime | None = None,
    testing: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_case: Callable[[], None] | None = None,
) -> RetentionSummary:
    """Apply the retention rules, one transaction per case; audited as ``retention_run``
    (one entry when it starts, one with the summary when it ends)."""
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
        session.rollback()
    summary = RetentionSummary(run_id, {k: v.isoformat() for k, v in cutoffs.items()})
    if on_start:
        on_start(len(ids))
    for case_id in ids:
        with session_factory() as session:
            try:
                case = session.scalar(select(Case).where(Case.id == case_id).with_for_update())
                applied = _apply_steps(session, case, cutoffs, run_id) if case else []
                if crash_after is not None and summary.cases >= int(crash_after):
                    os.kill(os.getpid(), signal.SIGKILL)  # mid-transaction, before the commit
                session.commit()
            except StaleDataError:  # a clerk changed the case meanwhile: next run
                session.rollback()
                summary.conflicts += 1
                applied = []
        if applied:
            summary.cases += 1
            for data_class in applied:
                summary.steps[data_class] += 1
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
