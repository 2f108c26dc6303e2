"""Workbench read side: the triage queue, a department's queue with filters and counts, pending
transfer requests and a department head's figures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload

from portal.cases.models import Case, CaseEvent, CaseTask
from portal.cases.queries import DEFAULT_PER_PAGE, Page, paginate
from portal.cases.status import (
    ACCEPTED,
    ASSIGNED,
    CLOSED,
    OPEN_STATUSES,
    RESOLVED,
    STATUSES,
    TRIAGE,
)
from portal.db import utcnow
from portal.jurisdiction.models import Area, Category
from portal.workbench import kpi
from portal.workbench.models import TransferRequest, Verdict

#: The queue's default view: what the department still has to do.
ACTIVE_STATUSES = (ASSIGNED, ACCEPTED)
PRIORITY_ORDER = case({"emergency": 0, "urgent": 1}, value=Case.priority, else_=2)


def _with_relations(stmt: Select[tuple[Case]]) -> Select[tuple[Case]]:
    return stmt.options(
        selectinload(Case.category).selectinload(Category.parent),
        selectinload(Case.predicted_category).selectinload(Category.parent),
        selectinload(Case.lead_department),
        selectinload(Case.area).selectinload(Area.parent),
        selectinload(Case.tasks),
    )


def triage_queue(
    session: Session, *, page: int = 1, per_page: int = DEFAULT_PER_PAGE
) -> Page[Case]:
    """Cases waiting for a coordinator: most urgent first, then the oldest."""
    stmt = _with_relations(
        select(Case).where(Case.status == TRIAGE).order_by(PRIORITY_ORDER, Case.created_at, Case.id)
    )
    return paginate(session, stmt, page, per_page)


@dataclass(frozen=True)
class QueueFilters:
    """Department queue filters; empty strings mean "any". ``status`` "active" = assigned+accepted."""

    status: str = "active"
    urgency: str = ""
    overdue: bool = False
    street: str = ""
    category: str = ""
    sort: str = "due"  # due | newest | oldest


def _department_cases(department_id: int) -> Select[tuple[Case]]:
    """Cases the department leads, or co-handles (an unfinished co task)."""
    co_task = exists().where(
        CaseTask.case_id == Case.id,
        CaseTask.department_id == department_id,
        CaseTask.role == "co",
        CaseTask.status.in_(("open", "accepted")),
    )
    return select(Case).where(or_(Case.lead_department_id == department_id, co_task))


def department_queue(
    session: Session,
    *,
    department_id: int,
    filters: QueueFilters = QueueFilters(),
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
    now: datetime | None = None,
) -> Page[Case]:
    """A department's cases, filtered, sorted by due date (overdue and soonest first) by default."""
    now = now or utcnow()
    stmt = _department_cases(department_id)
    if filters.status == "active":
        stmt = stmt.where(Case.status.in_(ACTIVE_STATUSES))
    elif filters.status in STATUSES:
        stmt = stmt.where(Case.status == filters.status)
    if filters.urgency:
        stmt = stmt.where(Case.priority == filters.urgency)
    if filters.overdue:
        stmt = stmt.where(Case.status.in_(OPEN_STATUSES), Case.due_at < now)
    if filters.street:
        parent = aliased(Area)
        stmt = (
            stmt.join(Area, Case.area_id == Area.id)
            .outerjoin(parent, Area.parent_id == parent.id)
            .where(or_(Area.code == filters.street, parent.code == filters.street))
        )
    if filters.category:
        group = aliased(Category)
        stmt = (
            stmt.join(Category, Case.category_id == Category.id)
            .outerjoin(group, Category.parent_id == group.id)
            .where(or_(Category.code == filters.category, group.code == filters.category))
        )
    if filters.sort == "newest":
        stmt = stmt.order_by(Case.created_at.desc(), Case.id.desc())
    elif filters.sort == "oldest":
        stmt = stmt.order_by(Case.created_at, Case.id)
    else:
        stmt = stmt.order_by(Case.due_at.is_(None), Case.due_at, PRIORITY_ORDER, Case.id)
    return paginate(session, _with_relations(stmt), page, per_page)


def status_counts(
    session: Session, *, department_id: int, now: datetime | None = None
) -> dict[str, int]:
    """Cases per status for the department, plus ``overdue`` (open and past due)."""
    now = now or utcnow()
    base = _department_cases(department_id).subquery()
    rows = session.execute(select(base.c.status, func.count()).group_by(base.c.status)).all()
    counts = {status: 0 for status in STATUSES if status != TRIAGE}
    counts.update({status: n for status, n in rows if status != TRIAGE})
    counts["overdue"] = (
        session.scalar(
            select(func.count())
            .select_from(base)
            .where(base.c.status.in_(OPEN_STATUSES), base.c.due_at < now)
        )
        or 0
    )
    return counts


def pending_transfers(
    session: Session, *, page: int = 1, per_page: int = DEFAULT_PER_PAGE
) -> Page[TransferRequest]:
    """Transfer requests waiting for a coordinator, oldest first."""
    stmt = (
        select(TransferRequest)
        .where(TransferRequest.status == "pending")
        .options(
            selectinload(TransferRequest.case),
            selectinload(TransferRequest.from_department),
            selectinload(TransferRequest.to_department),
            selectinload(TransferRequest.requested_by),
        )
        .order_by(TransferRequest.created_at, TransferRequest.id)
    )
    return paginate(session, stmt, page, per_page)  # type: ignore[arg-type]


def pending_transfer_for(session: Session, case_id: int) -> TransferRequest | None:
    return session.scalar(
        select(TransferRequest).where(
            TransferRequest.case_id == case_id, TransferRequest.status == "pending"
        )
    )


# --- a department head's figures ----------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentFigures:
    """What a department head watches. Hours are averages over the period (None: no data)."""

    open: int
    overdue: int
    by_status: dict[str, int]
    accepted_count: int
    avg_hours_to_accept: float | None
    resolved_count: int
    avg_hours_to_resolve: float | None
    returned: int
    transferred_out: int
    rates: dict[str, kpi.Rate] = field(default_factory=dict)
    average_satisfaction: float | None = None
    since: datetime | None = None
    overdue_cases: Sequence[Case] = field(default_factory=tuple)


def department_figures(
    session: Session,
    *,
    department_id: int,
    since: datetime | None = None,
    now: datetime | None = None,
) -> DepartmentFigures:
    """Open and overdue cases now; for events since ``since`` (all time when None): the average
    time to accept and to resolve (see :func:`portal.workbench.kpi.handling_durations`) and how
    many cases the department returned to triage or transferred away."""
    now = now or utcnow()
    counts = status_counts(session, department_id=department_id, now=now)
    lead_open = session.scalars(
        select(Case).where(Case.lead_department_id == department_id, Case.status.in_(OPEN_STATUSES))
    ).all()
    overdue_cases = sorted(
        (c for c in lead_open if c.is_overdue(now)), key=lambda c: (c.due_at, c.id)
    )
    touched = select(CaseEvent.case_id).where(CaseEvent.department_id == department_id)
    events = session.execute(
        select(
            CaseEvent.case_id,
            CaseEvent.type,
            CaseEvent.created_at,
            CaseEvent.to_status,
            CaseEvent.department_id,
        )
        .where(CaseEvent.case_id.in_(touched))
        .order_by(CaseEvent.case_id, CaseEvent.created_at, CaseEvent.id)
    ).all()
    by_case: dict[int, list[kpi.EventRecord]] = {}
    for case_id, type_, at, to_status, dept in events:
        by_case.setdefault(case_id, []).append(kpi.EventRecord(type_, at, to_status, dept))
    durations = kpi.handling_durations(by_case.values(), department_id=department_id, since=since)
    outgoing = Counter(
        e.type
        for history in by_case.values()
        for e in kpi.outgoing_events(history, department_id)
        if since is None or e.at >= since
    )
    records = case_records(session, lead_department_id=department_id)
    accept_hours = [d.hours for d in durations if d.kind == "accept"]
    resolve_hours = [d.hours for d in durations if d.kind == "resolve"]
    return DepartmentFigures(
        open=len(lead_open),
        overdue=len(overdue_cases),
        by_status={k: counts[k] for k in (ASSIGNED, ACCEPTED, RESOLVED, CLOSED)},
        accepted_count=len(accept_hours),
        avg_hours_to_accept=kpi.mean(accept_hours),
        resolved_count=len(resolve_hours),
        avg_hours_to_resolve=kpi.mean(resolve_hours),
        returned=outgoing["return"],
        transferred_out=outgoing["transfer"],
        rates=kpi_rates(records, now=now),
        average_satisfaction=kpi.average_satisfaction(records),
        since=since,
        overdue_cases=overdue_cases,
    )


def case_records(
    session: Session, *, lead_department_id: int | None = None, since: datetime | None = None
) -> list[kpi.CaseRecord]:
    """Cases (created since ``since``; of one lead department if given) as KPI inputs."""
    stmt = select(Case.id, Case.respond_due_at)
    if lead_department_id is not None:
        stmt = stmt.where(Case.lead_department_id == lead_department_id)
    if since is not None:
        stmt = stmt.where(Case.created_at >= since)
    cases = dict(session.execute(stmt).all())
    if not cases:
        return []
    events: dict[int, list[kpi.EventRecord]] = {}
    first_deadline: dict[int, datetime | None] = {}
    for case_id, type_, at, to_status, dept, data in session.execute(
        select(
            CaseEvent.case_id,
            CaseEvent.type,
            CaseEvent.created_at,
            CaseEvent.to_status,
            CaseEvent.department_id,
            CaseEvent.data,
        )
        .where(CaseEvent.case_id.in_(cases))
        .order_by(CaseEvent.case_id, CaseEvent.created_at, CaseEvent.id)
    ):
        events.setdefault(case_id, []).append(kpi.EventRecord(type_, at, to_status, dept))
        if to_status == ASSIGNED and case_id not in first_deadline:
            recorded = (data or {}).get("respond_due_at")
            first_deadline[case_id] = (
                datetime.fromisoformat(recorded) if recorded else cases[case_id]
            )
    verdicts: dict[int, list[kpi.VerdictRecord]] = {}
    for case_id, round_, outcome, satisfaction, at in session.execute(
        select(
            Verdict.case_id,
            Verdict.round,
            Verdict.outcome,
            Verdict.satisfaction,
            Verdict.created_at,
        ).where(Verdict.case_id.in_(cases))
    ):
        verdicts.setdefault(case_id, []).append(
            kpi.VerdictRecord(round_, outcome, satisfaction, at)
        )
    return [
        kpi.case_record(
            events.get(case_id, []),
            verdicts.get(case_id, []),
            first_respond_due_at=first_deadline.get(case_id),
        )
        for case_id in cases
    ]


def kpi_rates(records: Sequence[kpi.CaseRecord], *, now: datetime) -> dict[str, kpi.Rate]:
    """响应率, 解决率, 满意率 and the unrated share over the given cases."""
    return {
        "response": kpi.response_rate(records, now=now),
        "resolution": kpi.resolution_rate(records),
        "satisfaction": kpi.satisfaction_rate(records),
        "unrated": kpi.unrated_share(records),
    }
