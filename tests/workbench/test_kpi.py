"""The KPI formulas (portal.workbench.kpi) on hand-built histories: no database involved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.workbench import kpi
from portal.workbench.kpi import CaseRecord, EventRecord, Rate, VerdictRecord

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def verdict(round_: int, outcome: str, satisfaction: int | None = None) -> VerdictRecord:
    return VerdictRecord(round_, outcome, satisfaction, h(100 + round_))


def test_rate_value_and_percent() -> None:
    assert Rate(1, 3).value == pytest.approx(1 / 3)
    assert Rate(1, 3).percent == 33.3
    assert Rate(0, 0).value is None and Rate(0, 0).percent is None
    assert Rate(0, 4).value == 0


def test_handling_durations_restart_the_clock_on_transfer_and_reopen() -> None:
    housing, ecology = 1, 2
    history = [
        EventRecord("submit", h(0), "triage"),
        EventRecord("dispatch", h(2), "assigned", housing),
        EventRecord("accept", h(5), "accepted", housing),  # 3 h after dispatch
        EventRecord("transfer", h(6), "assigned", housing),  # housing hands it on
        EventRecord("accept", h(10), "accepted", ecology),  # 4 h after the transfer
        EventRecord("resolve", h(30), "resolved", ecology),  # 24 h after the transfer
        EventRecord("reopen", h(40), "assigned", ecology),
        EventRecord("accept", h(41), "accepted", ecology),  # 1 h after the reopen
        EventRecord("resolve", h(52), "resolved", ecology),  # 12 h after the reopen
    ]
    all_durations = kpi.handling_durations([history])
    assert [(d.kind, d.hours) for d in all_durations] == [
        ("accept", 3),
        ("accept", 4),
        ("resolve", 24),
        ("accept", 1),
        ("resolve", 12),
    ]
    eco = kpi.handling_durations([history], department_id=ecology)
    assert [(d.kind, d.hours) for d in eco] == [
        ("accept", 4),
        ("resolve", 24),
        ("accept", 1),
        ("resolve", 12),
    ]
    assert kpi.mean([d.hours for d in eco if d.kind == "accept"]) == 2.5
    late = kpi.handling_durations([history], department_id=ecology, since=h(35))
    assert [(d.kind, d.hours) for d in late] == [("accept", 1), ("resolve", 12)]
    assert kpi.handling_durations([history], department_id=99) == []


def test_accept_without_an_assignment_is_not_timed() -> None:
    history = [EventRecord("accept", h(1), "accepted", 1)]
    assert kpi.handling_durations([history]) == []
    assert kpi.mean([]) is None


def test_outgoing_events_are_the_departments_returns_and_transfers() -> None:
    history = [
        EventRecord("submit", h(0), "assigned", 1),
        EventRecord("return", h(1), "triage", 1),
        EventRecord("dispatch", h(2), "assigned", 2),
        EventRecord("transfer", h(3), "assigned", 2),
        EventRecord("transfer", h(4), "assigned", 1),
    ]
    assert [e.type for e in kpi.outgoing_events(history, 1)] == ["return", "transfer"]
    assert [e.at for e in kpi.outgoing_events(history, 2)] == [h(3)]


def test_case_record_takes_the_first_assignment_and_the_first_accept_after_it() -> None:
    events = [
        EventRecord("submit", h(0), "triage"),
        EventRecord("dispatch", h(1), "assigned", 1),
        EventRecord("accept", h(2), "accepted", 1),
        EventRecord("accept", h(9), "accepted", 1),
    ]
    record = kpi.case_record(events, [verdict(1, "resolved", 5)], first_respond_due_at=h(3))
    assert (record.assigned_at, record.accepted_at, record.respond_due_at) == (h(1), h(2), h(3))
    never = kpi.case_record([EventRecord("submit", h(0), "triage")])
    assert never.assigned_at is None and never.accepted_at is None


def test_response_rate_counts_only_cases_due_for_a_response() -> None:
    now = h(50)
    cases = [
        CaseRecord(h(0), h(24), h(10)),  # accepted in time → 1/1
        CaseRecord(h(0), h(24), h(24)),  # accepted exactly at the deadline: in time
        CaseRecord(h(0), h(24), h(30)),  # accepted late
        CaseRecord(h(0), h(24), None),  # deadline passed, never accepted: late
        CaseRecord(h(40), h(64), None),  # still inside its deadline: not counted
        CaseRecord(None, None, None),  # never left triage: not counted
        CaseRecord(h(0), None, h(5)),  # no deadline, accepted: on time
        CaseRecord(h(0), None, None),  # no deadline, not accepted: not counted
    ]
    rate = kpi.response_rate(cases, now=now)
    assert (rate.numerator, rate.denominator) == (3, 5)


def test_resolution_rate_uses_the_latest_answered_round() -> None:
    cases = [
        CaseRecord(h(0), None, h(1), [verdict(1, "resolved", 5)]),
        CaseRecord(h(0), None, h(1), [verdict(1, "not_resolved", 1), verdict(2, "resolved", 4)]),
        CaseRecord(h(0), None, h(1), [verdict(2, "not_resolved", 2), verdict(1, "resolved", 5)]),
        CaseRecord(h(0), None, h(1), [verdict(1, "unrated")]),  # no answer: not counted
        CaseRecord(h(0), None, h(1), [verdict(1, "resolved", None), verdict(2, "unrated")]),
        CaseRecord(h(0), None, h(1), []),
    ]
    rate = kpi.resolution_rate(cases)
    # counted: cases 1, 2, 3 (latest answered: not_resolved), 5 (latest answered: resolved)
    assert (rate.numerator, rate.denominator) == (3, 4)


def test_satisfaction_rate_counts_scores_of_four_and_five() -> None:
    cases = [
        CaseRecord(h(0), None, h(1), [verdict(1, "resolved", 5)]),
        CaseRecord(h(0), None, h(1), [verdict(1, "resolved", 4)]),
        CaseRecord(h(0), None, h(1), [verdict(1, "resolved", 3)]),
        CaseRecord(h(0), None, h(1), [verdict(1, "resolved", 5), verdict(2, "not_resolved", 1)]),
        CaseRecord(h(0), None, h(1), [verdict(1, "resolved", None)]),  # no score: not counted
        CaseRecord(h(0), None, h(1), [verdict(1, "unrated")]),
    ]
    rate = kpi.satisfaction_rate(cases)
    assert (rate.numerator, rate.denominator) == (2, 4)
    assert kpi.average_satisfaction(cases) == pytest.approx((5 + 4 + 3 + 1) / 4)
    assert kpi.average_satisfaction([]) is None


def test_unrated_share_looks_at_the_last_round() -> None:
    cases = [
        CaseRecord(h(0), None, h(1), [verdict(1, "unrated")]),
        CaseRecord(h(0), None, h(1), [verdict(1, "not_resolved", 2), verdict(2, "unrated")]),
        CaseRecord(h(0), None, h(1), [verdict(1, "unrated"), verdict(2, "resolved", 5)]),
        CaseRecord(h(0), None, h(1), []),
    ]
    rate = kpi.unrated_share(cases)
    assert (rate.numerator, rate.denominator) == (2, 3)
