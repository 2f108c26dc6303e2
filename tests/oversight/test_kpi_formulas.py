"""The published formulas on hand-built event histories (pure functions, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from portal.oversight.services import FORMULAS, CaseRow, median_hours, overdue_share
from portal.workbench import kpi

T = datetime(2026, 10, 1, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T + timedelta(hours=hours)


def ev(type_: str, hours: float, to_status: str | None = None) -> kpi.EventRecord:
    return kpi.EventRecord(type_, h(hours), to_status, 1)


SUBMIT = ev("submit", 0, "assigned")


def record(
    *events: kpi.EventRecord,
    respond_due: float | None = 24,
    due: float | None = 120,
    verdicts: tuple[kpi.VerdictRecord, ...] = (),
) -> kpi.CaseRecord:
    return kpi.case_record(
        list(events),
        verdicts,
        first_respond_due_at=h(respond_due) if respond_due is not None else None,
        due_at=h(due) if due is not None else None,
    )


def test_response_needs_accept_and_contact_within_the_deadline() -> None:
    both_in_time = record(SUBMIT, ev("accept", 2, "accepted"), ev("contact", 5))
    contact_late = record(SUBMIT, ev("accept", 2, "accepted"), ev("contact", 30))
    never_contacted_past_deadline = record(SUBMIT, ev("accept", 2, "accepted"))
    waiting_inside_deadline = record(SUBMIT, respond_due=100)
    never_assigned = record(ev("submit", 0, "triage"))
    no_deadline_done = record(
        SUBMIT, ev("accept", 50, "accepted"), ev("contact", 60), respond_due=None
    )
    cases = [
        both_in_time,
        contact_late,
        never_contacted_past_deadline,
        waiting_inside_deadline,
        never_assigned,
        no_deadline_done,
    ]
    rate = kpi.contact_response_rate(cases, now=h(48))
    assert (rate.numerator, rate.denominator) == (2, 4)
    # The accept-only figure of the workbench counts the late contact as on time.
    accept = kpi.response_rate(cases, now=h(48))
    assert (accept.numerator, accept.denominator) == (4, 4)
    # Once its deadline passes, the case still waiting counts against the rate.
    later = kpi.contact_response_rate(cases, now=h(101))
    assert (later.numerator, later.denominator) == (2, 5)


def test_on_time_rate_counts_late_and_overdue_cases() -> None:
    on_time = record(SUBMIT, ev("accept", 1, "accepted"), ev("resolve", 100, "resolved"))
    late = record(SUBMIT, ev("accept", 1, "accepted"), ev("resolve", 130, "resolved"))
    overdue_open = record(SUBMIT, ev("accept", 1, "accepted"))
    not_yet_due = record(SUBMIT, due=500)
    rate = kpi.on_time_rate([on_time, late, overdue_open, not_yet_due], now=h(200))
    assert (rate.numerator, rate.denominator) == (1, 3)
    assert rate.percent == 33.3


def test_reopen_counts_from_the_first_resolution_and_on_time_uses_it() -> None:
    reopened = record(
        SUBMIT,
        ev("accept", 1, "accepted"),
        ev("resolve", 20, "resolved"),
        ev("reopen", 40, "assigned"),
        ev("accept", 41, "accepted"),
        ev("resolve", 300, "resolved"),
    )
    clean = record(SUBMIT, ev("accept", 1, "accepted"), ev("resolve", 20, "resolved"))
    unresolved = record(SUBMIT, ev("accept", 1, "accepted"))
    reopen = kpi.reopen_rate([reopened, clean, unresolved])
    assert (reopen.numerator, reopen.denominator) == (1, 2)
    assert kpi.on_time_rate([reopened], now=h(400)).numerator == 1  # first resolution was in time


def test_return_rate_is_over_cases_that_reached_a_department() -> None:
    returned = record(SUBMIT, ev("return", 3, "triage"), ev("dispatch", 5, "assigned"))
    kept = record(SUBMIT)
    triage_only = record(ev("submit", 0, "triage"))
    rate = kpi.return_rate([returned, kept, triage_only])
    assert (rate.numerator, rate.denominator) == (1, 2)


def test_resolution_and_satisfaction_use_the_latest_answered_round() -> None:
    v = kpi.VerdictRecord
    first_bad_then_good = record(
        SUBMIT, verdicts=(v(1, "not_resolved", 2, h(1)), v(2, "resolved", 5, h(2)))
    )
    unrated_only = record(SUBMIT, verdicts=(v(1, "unrated", None, h(1)),))
    unhappy = record(SUBMIT, verdicts=(v(1, "resolved", 3, h(1)),))
    cases = [first_bad_then_good, unrated_only, unhappy]
    assert (kpi.resolution_rate(cases).numerator, kpi.resolution_rate(cases).denominator) == (2, 2)
    assert (kpi.satisfaction_rate(cases).numerator, kpi.satisfaction_rate(cases).denominator) == (
        1,
        2,
    )


def test_empty_denominators_are_no_data_not_zero() -> None:
    assert kpi.on_time_rate([], now=T).value is None
    assert kpi.reopen_rate([]).percent is None


def _row(status: str, due: float | None) -> CaseRow:
    return CaseRow(
        1,
        T,
        status,
        None,
        None,
        None,
        None,
        None,
        None,
        h(due) if due is not None else None,
        None,
        None,
        None,
        True,
    )


def test_overdue_share_and_medians() -> None:
    rows = [_row("accepted", 10), _row("assigned", 100), _row("triage", None), _row("closed", 1)]
    share = overdue_share(rows, now=h(50))
    assert (share.numerator, share.denominator) == (1, 3)
    histories = [
        [SUBMIT, ev("accept", 2, "accepted"), ev("resolve", 10, "resolved")],
        [
            SUBMIT,
            ev("accept", 4, "accepted"),
            ev("resolve", 30, "resolved"),
            ev("reopen", 40, "assigned"),
            ev("accept", 41, "accepted"),
            ev("resolve", 46, "resolved"),
        ],
    ]
    durations = kpi.handling_durations(histories)
    assert median_hours(durations, "accept") == 2.0  # 2, 4, 1 → 2
    assert median_hours(durations, "resolve") == 10.0  # 10, 30, 6 → 10


def test_every_published_figure_has_its_formula_text() -> None:
    from babel.support import Translations

    from portal.config import PROJECT_ROOT

    zh = Translations.load(str(PROJECT_ROOT / "locales"), ["zh_Hans_CN"])
    for key, formula in FORMULAS.items():
        assert len(formula.text) > 40, key
        assert len(formula.docstring) > 40, key  # the function documents the same rule
        translated = zh.gettext(formula.text)
        assert translated != formula.text and "：" in translated, key  # published in Chinese too
    assert "accepted and contacted" in FORMULAS["response"].text
