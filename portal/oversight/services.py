"""The public figures as functions of (session, period, filters): counts, timings, league tables,
the fairness check. Rates come from :mod:`portal.workbench.kpi` (one definition of each)."""

from __future__ import annotations

import inspect
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, select, type_coerce
from sqlalchemy import case as sa_case
from sqlalchemy.orm import Session

from portal.cases.models import Case, CaseEvent
from portal.cases.status import OPEN_STATUSES, STATUSES
from portal.db import utcnow
from portal.errors import ValidationError
from portal.jurisdiction.models import Area, Category, Department
from portal.oversight.dp import LOCAL_TZ, parse_month
from portal.workbench import kpi
from portal.workbench.models import LabelledExample, Verdict

MAX_PERIOD_DAYS = 366


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC; ``label`` for people."""

    start: datetime
    end: datetime

    @classmethod
    def last_days(cls, days: int, *, now: datetime | None = None) -> Period:
        if not 1 <= days <= MAX_PERIOD_DAYS:
            raise ValidationError(f"days must be between 1 and {MAX_PERIOD_DAYS}", field="days")
        now = now or utcnow()
        today = now.astimezone(LOCAL_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
        return cls((today - timedelta(days=days - 1)).astimezone(UTC), now)

    @classmethod
    def month(cls, month: str) -> Period:
        start, end = parse_month(month)
        return cls(start, end)

    def local_days(self) -> list[date]:
        first = self.start.astimezone(LOCAL_TZ).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(LOCAL_TZ).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True)
class Filters:
    group: str | None = None  # category group code
    street: str | None = None  # street area code


@dataclass
class CaseRow:
    """The public facts of one case the figures need."""

    id: int
    created_at: datetime
    status: str
    group: str | None
    group_name: str | None
    category: str | None
    street: str | None
    street_name: str | None
    department_id: int | None
    due_at: datetime | None
    respond_due_at: datetime | None
    accepted_at: datetime | None
    resolved_at: datetime | None
    predicted: bool
    events: list[kpi.EventRecord] = field(default_factory=list)
    verdicts: list[kpi.VerdictRecord] = field(default_factory=list)
    first_respond_due_at: datetime | None = None

    @property
    def local_day(self) -> date:
        return self.created_at.astimezone(LOCAL_TZ).date()

    def record(self) -> kpi.CaseRecord:
        return kpi.case_record(
            self.events,
            self.verdicts,
            first_respond_due_at=self.first_respond_due_at or self.respond_due_at,
            due_at=self.due_at,
        )


@dataclass(frozen=True)
class Lookup:
    """Names of streets, groups and departments (codes are stable, names are shown)."""

    streets: dict[str, Area]
    groups: dict[str, Category]
    departments: dict[int, Department]


def lookup(session: Session) -> Lookup:
    areas = session.scalars(select(Area).order_by(Area.code)).all()
    groups = session.scalars(
        select(Category).where(Category.parent_id.is_(None)).order_by(Category.code)
    ).all()
    departments = session.scalars(select(Department).order_by(Department.code)).all()
    return Lookup(
        {a.code: a for a in areas if a.level == "street"},
        {g.code: g for g in groups},
        {d.id: d for d in departments},
    )


def validate_filters(session: Session, filters: Filters) -> Filters:
    names = lookup(session)
    if filters.group and filters.group not in names.groups:
        raise ValidationError("unknown category group", field="group")
    if filters.street and filters.street not in names.streets:
        raise ValidationError("unknown street", field="street")
    return filters


def load_cases(
    session: Session, period: Period, filters: Filters = Filters(), *, with_history: bool = True
) -> list[CaseRow]:
    """Cases created in ``period`` matching ``filters``, with their events and verdicts."""
    streets: dict[int, tuple[str, str] | None] = {}
    for area in session.scalars(select(Area)):
        street = area.street()
        streets[area.id] = (street.code, street.name) if street is not None else None
    groups: dict[int, tuple[str, str, str | None]] = {}
    for category in session.scalars(select(Category)):
        group = category.group
        leaf = None if category.is_group else category.code
        groups[category.id] = (group.code, group.name, leaf)
    stmt = (
        select(
            Case.id,
            Case.created_at,
            Case.status,
            Case.category_id,
            Case.area_id,
            Case.lead_department_id,
            Case.due_at,
            Case.respond_due_at,
            Case.accepted_at,
            Case.resolved_at,
            Case.predicted_category_id,
        )
        .where(Case.created_at >= period.start, Case.created_at < period.end)
        .order_by(Case.id)
    )
    rows: dict[int, CaseRow] = {}
    for cid, created, status, cat_id, area_id, dept, due, rdue, acc, res, pred in session.execute(
        stmt
    ):
        group_code, group_name, leaf = groups.get(cat_id, (None, None, None))
        street_code, street_name = streets.get(area_id) or (None, None)
        if filters.group and group_code != filters.group:
            continue
        if filters.street and street_code != filters.street:
            continue
        rows[cid] = CaseRow(
            cid,
            created,
            status,
            group_code,
            group_name,
            leaf,
            street_code,
            street_name,
            dept,
            due,
            rdue,
            acc,
            res,
            pred is not None,
        )
    if with_history and rows:
        _attach_history(session, rows, period)
    return list(rows.values())


def _attach_history(session: Session, rows: dict[int, CaseRow], period: Period) -> None:
    """Events and verdicts of the period's cases, in one query each (joined on the case's
    creation time rather than a long ``IN`` list); the recorded response deadline is read only
    from events that assign the case."""
    in_period = (Case.created_at >= period.start, Case.created_at < period.end)
    assign_data = sa_case((CaseEvent.to_status == "assigned", CaseEvent.data), else_=None)
    for cid, type_, at, to_status, dept, data in session.execute(
        select(
            CaseEvent.case_id,
            CaseEvent.type,
            CaseEvent.created_at,
            CaseEvent.to_status,
            CaseEvent.department_id,
            type_coerce(assign_data, JSON),
        )
        .join(Case, Case.id == CaseEvent.case_id)
        .where(*in_period)
        .order_by(CaseEvent.case_id, CaseEvent.created_at, CaseEvent.id)
    ):
        row = rows.get(cid)
        if row is None:  # filtered out
            continue
        row.events.append(kpi.EventRecord(type_, at, to_status, dept))
        if to_status == "assigned" and row.first_respond_due_at is None:
            recorded = (data or {}).get("respond_due_at")
            if recorded:
                row.first_respond_due_at = datetime.fromisoformat(recorded)
    for cid, round_, outcome, satisfaction, at in session.execute(
        select(
            Verdict.case_id,
            Verdict.round,
            Verdict.outcome,
            Verdict.satisfaction,
            Verdict.created_at,
        )
        .join(Case, Case.id == Verdict.case_id)
        .where(*in_period)
    ):
        if cid in rows:
            rows[cid].verdicts.append(kpi.VerdictRecord(round_, outcome, satisfaction, at))


# --- formulas: one registry, published beside every figure -----------------------------------


def overdue_share(cases: Iterable[CaseRow], *, now: datetime) -> kpi.Rate:
    """超期率 (overdue now): of the cases still open (in triage, assigned or being handled), the
    share whose resolution deadline has already passed."""
    open_cases = [c for c in cases if c.status in OPEN_STATUSES]
    return kpi.Rate(
        sum(1 for c in open_cases if c.due_at is not None and c.due_at < now), len(open_cases)
    )


def median_hours(durations: Iterable[kpi.Duration], kind: str) -> float | None:
    """Median over :func:`portal.workbench.kpi.handling_durations`: the middle value of the hours
    from the start of an assignment round to the accept (kind ``accept``) or resolve (kind
    ``resolve``) event of that round."""
    hours = sorted(d.hours for d in durations if d.kind == kind)
    return round(statistics.median(hours), 1) if hours else None


@dataclass(frozen=True)
class Formula:
    """A published figure: its label, the plain-language formula shown beside it (translated,
    one msgid per formula) and the function that computes it, whose docstring states the same
    rule for developers: change both together."""

    key: str
    label: Any
    explanation: Any
    function: Callable[..., Any]

    @property
    def text(self) -> str:
        return str(self.explanation)

    @property
    def docstring(self) -> str:
        """The function's docstring, without its reStructuredText markup."""
        doc = inspect.getdoc(self.function) or ""
        doc = re.sub(r":\w+:`~?([^`]+)`", lambda m: m.group(1).rsplit(".", 1)[-1], doc)
        doc = doc.replace("``", "").replace("*", "")
        return "\n\n".join(" ".join(part.split()) for part in doc.split("\n\n"))


FORMULAS: dict[str, Formula] = {
    f.key: f
    for f in (
        Formula(
            "response",
            _l("Response rate"),
            _l(
                "Response rate (accepted and contacted): the share of cases both accepted and "
                "contacted within the response deadline. Denominator: cases that reached a "
                "department and are due for a response (accepted and contacted, or past their "
                "response deadline). Numerator: those whose first acceptance and first contact "
                "with the resident both happened at or before the deadline. A case without a "
                "deadline counts only once accepted and contacted, and then as on time."
            ),
            kpi.contact_response_rate,
        ),
        Formula(
            "accept",
            _l("Accepted in time"),
            _l(
                "Accepted in time: the share of cases accepted within the response deadline. "
                "Denominator: cases that reached a department and are due for a response: "
                "accepted, or past their response deadline (a case still inside its deadline "
                "and not yet accepted is not counted either way). Numerator: those first "
                "accepted at or before the deadline. A case without a deadline counts only once "
                "accepted, and then as on time."
            ),
            kpi.response_rate,
        ),
        Formula(
            "on_time",
            _l("On-time rate"),
            _l(
                "On-time rate: the share of cases resolved by their resolution deadline. "
                "Denominator: cases that reached a department and are due (resolved, or past "
                "their deadline without a resolution). Numerator: those first resolved at or "
                "before the deadline. A case without a deadline counts only once resolved, and "
                "then as on time."
            ),
            kpi.on_time_rate,
        ),
        Formula(
            "resolution",
            _l("Resolution rate"),
            _l(
                "Resolution rate: of the cases whose resident answered the verdict question at "
                "least once, the share whose latest answer was “resolved”. Rounds the resident "
                "did not rate (timed out) are in neither count."
            ),
            kpi.resolution_rate,
        ),
        Formula(
            "satisfaction",
            _l("Satisfaction rate"),
            _l(
                "Satisfaction rate: of the cases whose latest answered verdict carries a score "
                "from 1 to 5, the share scored 4 or 5 (satisfied or fairly satisfied)."
            ),
            kpi.satisfaction_rate,
        ),
        Formula(
            "return",
            _l("Return rate"),
            _l(
                "Return rate: of the cases that reached a department, the share returned to the "
                "dispatch centre as “not ours” at least once."
            ),
            kpi.return_rate,
        ),
        Formula(
            "reopen",
            _l("Reopen rate"),
            _l(
                "Reopen rate: of the cases resolved at least once, the share reopened at least "
                "once because the resident said the problem was not resolved."
            ),
            kpi.reopen_rate,
        ),
        Formula(
            "overdue",
            _l("Overdue share"),
            _l(
                "Overdue share (now): of the cases still open (in triage, assigned or being "
                "handled), the share whose resolution deadline has already passed."
            ),
            overdue_share,
        ),
        Formula(
            "median_accept",
            _l("Median hours to accept"),
            _l(
                "Median hours to accept: the middle value of the hours from the start of each "
                "assignment round to the department's acceptance in that round."
            ),
            median_hours,
        ),
        Formula(
            "median_resolve",
            _l("Median hours to resolve"),
            _l(
                "Median hours to resolve: the middle value of the hours from the start of each "
                "assignment round to the resolution in that round."
            ),
            median_hours,
        ),
    )
}
RATE_KEYS = ("response", "accept", "on_time", "resolution", "satisfaction", "return", "reopen")


def rates(cases: Sequence[CaseRow], *, now: datetime) -> dict[str, kpi.Rate]:
    records = [c.record() for c in cases]
    return {
        "response": kpi.contact_response_rate(records, now=now),
        "accept": kpi.response_rate(records, now=now),
        "on_time": kpi.on_time_rate(records, now=now),
        "resolution": kpi.resolution_rate(records),
        "satisfaction": kpi.satisfaction_rate(records),
        "return": kpi.return_rate(records),
        "reopen": kpi.reopen_rate(records),
        "overdue": overdue_share(cases, now=now),
    }


def timings(cases: Sequence[CaseRow]) -> dict[str, float | None]:
    durations = kpi.handling_durations(c.events for c in cases)
    return {
        "median_accept": median_hours(durations, "accept"),
        "median_resolve": median_hours(durations, "resolve"),
    }


# --- dashboard series ----------------------------------------------------------------------


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def cases_over_time(
    cases: Sequence[CaseRow], period: Period, *, bucket: str, by: str
) -> tuple[list[date], dict[str, list[int]]]:
    """Counts per day (or ISO week, starting Monday) per group (or street); every bucket of the
    period is present, zeros included. Keys are codes; ``""`` is "unknown"."""
    if bucket not in {"day", "week"}:
        raise ValidationError("bucket must be day or week", field="bucket")
    if by not in {"group", "street"}:
        raise ValidationError("by must be group or street", field="by")
    days = period.local_days()
    buckets = sorted({week_start(d) for d in days}) if bucket == "week" else days
    index = {b: i for i, b in enumerate(buckets)}
    series: dict[str, list[int]] = defaultdict(lambda: [0] * len(buckets))
    for c in cases:
        key = (c.group if by == "group" else c.street) or ""
        b = week_start(c.local_day) if bucket == "week" else c.local_day
        if b in index:
            series[key][index[b]] += 1
    return buckets, dict(sorted(series.items()))


def status_mix(cases: Sequence[CaseRow]) -> dict[str, int]:
    counts = Counter(c.status for c in cases)
    return {s: counts.get(s, 0) for s in STATUSES}


def counts_by_street(cases: Sequence[CaseRow]) -> dict[str, int]:
    return dict(Counter(c.street or "" for c in cases))


@dataclass(frozen=True)
class Dashboard:
    period: Period
    filters: Filters
    total: int
    status: dict[str, int]
    by_street: dict[str, int]
    rates: dict[str, kpi.Rate]
    timings: dict[str, float | None]


def dashboard(
    session: Session, period: Period, filters: Filters = Filters(), *, now: datetime | None = None
) -> Dashboard:
    now = now or utcnow()
    cases = load_cases(session, period, filters)
    return Dashboard(
        period,
        filters,
        len(cases),
        status_mix(cases),
        counts_by_street(cases),
        rates(cases, now=now),
        timings(cases),
    )


# --- league tables -------------------------------------------------------------------------


@dataclass(frozen=True)
class LeagueRow:
    key: str
    name: str
    cases: int
    rates: dict[str, kpi.Rate]
    timings: dict[str, float | None]


LEAGUE_SORT_KEYS = (*RATE_KEYS, "overdue")


def validate_league(by: str, sort: str) -> None:
    if by not in {"department", "street"}:
        raise ValidationError("by must be department or street", field="by")
    if sort not in LEAGUE_SORT_KEYS:
        raise ValidationError("unknown sort key", field="sort")


@dataclass(frozen=True)
class LeagueFigures:
    """The figures of one row of a league table (no name, no rank: those come from the current
    jurisdiction and the reader's sort)."""

    cases: int
    rates: dict[str, kpi.Rate]
    timings: dict[str, float | None]


def league_figures(
    session: Session, month: str, *, by: str, now: datetime | None = None
) -> dict[str, LeagueFigures]:
    """The figures of every department (key: its id, as text) or street (key: its code) that has
    cases created in ``month``."""
    validate_league(by, "response")
    now = now or utcnow()
    grouped: dict[str, list[CaseRow]] = defaultdict(list)
    for c in load_cases(session, Period.month(month)):
        if by == "department":
            if c.department_id is not None:
                grouped[str(c.department_id)].append(c)
        elif c.street is not None:
            grouped[c.street].append(c)
    return {
        key: LeagueFigures(len(rows), rates(rows, now=now), timings(rows))
        for key, rows in grouped.items()
    }


def rank_league(
    names: Lookup, figures: dict[str, LeagueFigures], *, by: str, sort: str = "response"
) -> list[LeagueRow]:
    """Every active department (or every street) and every key with figures, ranked by ``sort``
    (a rate key; lower is better for return/reopen/overdue), rows without data last."""
    validate_league(by, sort)
    if by == "department":
        keys = {str(d.id): d.name for d in names.departments.values() if d.active}
    else:
        keys = {code: a.name for code, a in names.streets.items()}
    for key in figures:
        if key not in keys:
            dept = names.departments.get(int(key)) if by == "department" else None
            keys[key] = dept.name if dept else key
    empty = LeagueFigures(0, rates([], now=utcnow()), timings([]))
    table = [
        LeagueRow(key, name, f.cases, f.rates, f.timings)
        for key, name in keys.items()
        for f in (figures.get(key, empty),)
    ]
    lower_is_better = sort in {"return", "reopen", "overdue"}

    def rank(row: LeagueRow) -> tuple[int, float, str]:
        value = row.rates[sort].value
        if value is None:
            return (1, 0.0, row.name)
        return (0, value if lower_is_better else -value, row.name)

    return sorted(table, key=rank)


def league_table(
    session: Session, month: str, *, by: str, now: datetime | None = None, sort: str = "response"
) -> list[LeagueRow]:
    """Monthly league table of departments (current lead department) or streets, for the cases
    created that month; ranked by ``sort`` (a rate key; lower is better for return/reopen/overdue),
    rows without data last."""
    validate_league(by, sort)
    return rank_league(
        lookup(session), league_figures(session, month, by=by, now=now), by=by, sort=sort
    )


# --- fairness ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FairnessRow:
    street: str
    name: str
    routed: int
    corrected: int
    accuracy: float | None
    median_resolve: float | None
    accuracy_gap: bool
    slow: bool


ACCURACY_GAP_POINTS = 10.0
SLOW_FACTOR = 1.5


def fairness(session: Session, period: Period) -> tuple[list[FairnessRow], dict[str, Any]]:
    """Routing accuracy (1 − corrections / cases the model routed) and median hours to resolve by
    street. A street is flagged when its accuracy is more than 10 points below the district's, or
    its median time to resolve is more than 1.5 × the district median."""
    names = lookup(session)
    cases = load_cases(session, period)
    corrected_ids = set(
        session.scalars(
            select(LabelledExample.case_id).where(
                LabelledExample.case_id.in_([c.id for c in cases] or [-1])
            )
        )
    )
    by_street: dict[str, list[CaseRow]] = defaultdict(list)
    for c in cases:
        by_street[c.street or ""].append(c)

    def accuracy(rows: Sequence[CaseRow]) -> tuple[int, int, float | None]:
        routed = [r for r in rows if r.predicted]
        corrected = sum(1 for r in routed if r.id in corrected_ids)
        return len(routed), corrected, (1 - corrected / len(routed)) if routed else None

    d_routed, d_corrected, d_accuracy = accuracy(cases)
    d_median = timings(cases)["median_resolve"]
    out = []
    for code, area in names.streets.items():
        rows = by_street.get(code, [])
        routed, corrected, acc = accuracy(rows)
        median = timings(rows)["median_resolve"]
        out.append(
            FairnessRow(
                code,
                area.name,
                routed,
                corrected,
                acc,
                median,
                acc is not None
                and d_accuracy is not None
                and (d_accuracy - acc) * 100 > ACCURACY_GAP_POINTS,
                median is not None and d_median is not None and median > SLOW_FACTOR * d_median,
            )
        )
    district = {
        "routed": d_routed,
        "corrected": d_corrected,
        "accuracy": d_accuracy,
        "median_resolve": d_median,
    }
    return out, district


def correction_share(session: Session) -> kpi.Rate:
    """Share of cases corrected by coordinators: labelled examples (triage corrections and "not
    ours" returns) over all cases the model read (cases with a prediction)."""
    from sqlalchemy import func

    routed = session.scalar(
        select(func.count()).select_from(Case).where(Case.predicted_category_id.is_not(None))
    )
    corrected = session.scalar(
        select(func.count(func.distinct(LabelledExample.case_id))).where(
            LabelledExample.case_id.is_not(None)
        )
    )
    return kpi.Rate(int(corrected or 0), int(routed or 0))
