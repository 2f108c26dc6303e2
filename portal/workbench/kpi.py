"""Performance formulas as pure functions over case events and verdicts (no database, no Flask).

The three published rates of the 12345 practice are defined here once, so the department
figures, the oversight pages and any export compute them the same way:

* 响应率 (response rate) — :func:`response_rate`
* 解决率 (resolution rate) — :func:`resolution_rate`
* 满意率 (satisfaction rate) — :func:`satisfaction_rate`

Conventions for ``department_id`` on workbench events: ``dispatch``: the new lead department;
``accept``/``resolve``/``contact``/``reply``: the acting lead department; ``return`` and
``transfer``: the department that gave the case away; ``reopen``: the lead department the case
goes back to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

#: Satisfaction scores counted as satisfied (满意 5, 基本满意 4 on the 1–5 scale).
SATISFIED_SCORES = frozenset({4, 5})
ANSWERED_OUTCOMES = frozenset({"resolved", "not_resolved"})


@dataclass(frozen=True)
class EventRecord:
    """The fields of a :class:`~portal.cases.models.CaseEvent` the formulas need."""

    type: str
    at: datetime
    to_status: str | None = None
    department_id: int | None = None


@dataclass(frozen=True)
class Duration:
    kind: str  # accept | resolve
    hours: float
    at: datetime  # when the accept/resolve happened
    department_id: int | None


@dataclass(frozen=True)
class VerdictRecord:
    round: int
    outcome: str  # resolved | not_resolved | unrated
    satisfaction: int | None
    at: datetime


@dataclass(frozen=True)
class CaseRecord:
    """One case as the rates see it.

    ``assigned_at``: when it first reached a department (None: never left triage);
    ``respond_due_at``: the response deadline of that first assignment;
    ``accepted_at``: the first acceptance after it; ``verdicts``: all rounds, any order.
    """

    assigned_at: datetime | None
    respond_due_at: datetime | None
    accepted_at: datetime | None
    verdicts: Sequence[VerdictRecord] = field(default_factory=tuple)
    #: The case's resolution deadline, its first resolution, its first contact with the resident
    #: after assignment, and whether it was ever returned ("not ours") or reopened.
    due_at: datetime | None = None
    resolved_at: datetime | None = None
    contacted_at: datetime | None = None
    returned: bool = False
    reopened: bool = False


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        """The share in [0, 1], or None when nothing qualifies (never a made-up 0 or 100 %)."""
        return self.numerator / self.denominator if self.denominator else None

    @property
    def percent(self) -> float | None:
        return None if self.value is None else round(100 * self.value, 1)


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def handling_durations(
    histories: Iterable[Sequence[EventRecord]],
    *,
    department_id: int | None = None,
    since: datetime | None = None,
) -> list[Duration]:
    """Time to accept and time to resolve, one per accept / resolve event.

    Each history is one case's events in order. An assignment round starts at the latest event
    whose ``to_status`` is ``assigned`` (auto-routing at submission, dispatch, transfer, reopen).
    *Time to accept* = the ``accept`` event's time minus the start of its round; *time to resolve*
    = the ``resolve`` event's time minus the start of its round (so a transfer or a reopen starts
    the clock again for the department that receives the case). With ``department_id`` only that
    department's accept/resolve events count; with ``since`` only those at or after it.
    """
    out: list[Duration] = []
    for history in histories:
        round_start: datetime | None = None
        for event in history:
            if event.to_status == "assigned":
                round_start = event.at
                continue
            if event.type not in {"accept", "resolve"} or round_start is None:
                continue
            if department_id is not None and event.department_id != department_id:
                continue
            if since is not None and event.at < since:
                continue
            out.append(
                Duration(event.type, _hours(round_start, event.at), event.at, event.department_id)
            )
    return out


def outgoing_events(history: Sequence[EventRecord], department_id: int) -> list[EventRecord]:
    """The department's ``return`` (not ours) and ``transfer`` (handed on) events in a history."""
    return [
        e for e in history if e.type in {"return", "transfer"} and e.department_id == department_id
    ]


def case_record(
    events: Sequence[EventRecord],
    verdicts: Sequence[VerdictRecord] = (),
    *,
    first_respond_due_at: datetime | None = None,
    due_at: datetime | None = None,
) -> CaseRecord:
    """Build a :class:`CaseRecord` from one case's ordered events (and its verdicts)."""
    assigned_at = next((e.at for e in events if e.to_status == "assigned"), None)
    accepted_at = contacted_at = None
    if assigned_at is not None:
        accepted_at = next(
            (e.at for e in events if e.type == "accept" and e.at >= assigned_at), None
        )
        contacted_at = next(
            (e.at for e in events if e.type == "contact" and e.at >= assigned_at), None
        )
    return CaseRecord(
        assigned_at,
        first_respond_due_at,
        accepted_at,
        tuple(verdicts),
        due_at=due_at,
        resolved_at=next((e.at for e in events if e.type == "resolve"), None),
        contacted_at=contacted_at,
        returned=any(e.type == "return" for e in events),
        reopened=any(e.type == "reopen" for e in events),
    )


def response_rate(cases: Iterable[CaseRecord], *, now: datetime) -> Rate:
    """响应率: the share of cases accepted (签收) within the response deadline.

    Denominator: cases that reached a department and are *due for a response* — accepted, or
    whose response deadline has passed by ``now`` (a case still inside its deadline and not yet
    accepted is not counted either way). Numerator: those first accepted at or before the
    deadline. A case without a deadline counts only once accepted, and then as on time.
    """
    numerator = denominator = 0
    for record in cases:
        if record.assigned_at is None:
            continue
        deadline = record.respond_due_at
        if record.accepted_at is None:
            if deadline is not None and deadline < now:
                denominator += 1
            continue
        denominator += 1
        if deadline is None or record.accepted_at <= deadline:
            numerator += 1
    return Rate(numerator, denominator)


def _latest_answered(record: CaseRecord) -> VerdictRecord | None:
    answered = [v for v in record.verdicts if v.outcome in ANSWERED_OUTCOMES]
    return max(answered, key=lambda v: v.round) if answered else None


def resolution_rate(cases: Iterable[CaseRecord]) -> Rate:
    """解决率: of the cases whose resident answered the verdict question at least once, the share
    whose latest answer was "resolved". Unrated (timed-out) rounds are in neither count."""
    numerator = denominator = 0
    for record in cases:
        latest = _latest_answered(record)
        if latest is None:
            continue
        denominator += 1
        numerator += latest.outcome == "resolved"
    return Rate(numerator, denominator)


def satisfaction_rate(cases: Iterable[CaseRecord]) -> Rate:
    """满意率: of the cases whose latest answered verdict carries a 1–5 score, the share scored
    4 or 5 (satisfied or fairly satisfied)."""
    numerator = denominator = 0
    for record in cases:
        latest = _latest_answered(record)
        if latest is None or latest.satisfaction is None:
            continue
        denominator += 1
        numerator += latest.satisfaction in SATISFIED_SCORES
    return Rate(numerator, denominator)


def average_satisfaction(cases: Iterable[CaseRecord]) -> float | None:
    """Mean score of the latest answered, scored verdict of each case."""
    scores = [
        latest.satisfaction
        for latest in (_latest_answered(r) for r in cases)
        if latest is not None and latest.satisfaction is not None
    ]
    return mean(scores)


def unrated_share(cases: Iterable[CaseRecord]) -> Rate:
    """Of the cases with any verdict, those whose last round closed unrated (no answer in time)."""
    numerator = denominator = 0
    for record in cases:
        if not record.verdicts:
            continue
        denominator += 1
        numerator += max(record.verdicts, key=lambda v: v.round).outcome == "unrated"
    return Rate(numerator, denominator)


def contact_response_rate(cases: Iterable[CaseRecord], *, now: datetime) -> Rate:
    """响应率 (签收并联系): the share of cases both accepted and contacted within the response
    deadline.

    Denominator: cases that reached a department and are due for a response (accepted and
    contacted, or past their response deadline by ``now``). Numerator: those whose first
    acceptance and first contact with the resident both happened at or before the deadline. A case
    without a deadline counts only once accepted and contacted, and then as on time.
    """
    numerator = denominator = 0
    for record in cases:
        if record.assigned_at is None:
            continue
        deadline = record.respond_due_at
        done_at = (
            max(record.accepted_at, record.contacted_at)
            if record.accepted_at is not None and record.contacted_at is not None
            else None
        )
        if done_at is None:
            if deadline is not None and deadline < now:
                denominator += 1
            continue
        denominator += 1
        numerator += deadline is None or done_at <= deadline
    return Rate(numerator, denominator)


def on_time_rate(cases: Iterable[CaseRecord], *, now: datetime) -> Rate:
    """按期办结率: the share of cases resolved by their resolution deadline.

    Denominator: cases that reached a department and are due (resolved, or past their deadline by
    ``now`` without a resolution). Numerator: those first resolved at or before the deadline. A
    case without a deadline counts only once resolved, and then as on time.
    """
    numerator = denominator = 0
    for record in cases:
        if record.assigned_at is None:
            continue
        if record.resolved_at is None:
            if record.due_at is not None and record.due_at < now:
                denominator += 1
            continue
        denominator += 1
        numerator += record.due_at is None or record.resolved_at <= record.due_at
    return Rate(numerator, denominator)


def return_rate(cases: Iterable[CaseRecord]) -> Rate:
    """退单率: of the cases that reached a department, the share returned to the dispatch centre
    as "not ours" at least once."""
    reached = [r for r in cases if r.assigned_at is not None]
    return Rate(sum(r.returned for r in reached), len(reached))


def reopen_rate(cases: Iterable[CaseRecord]) -> Rate:
    """重办率: of the cases resolved at least once, the share reopened at least once because the
    resident said the problem was not resolved."""
    resolved = [r for r in cases if r.resolved_at is not None]
    return Rate(sum(r.reopened for r in resolved), len(resolved))
