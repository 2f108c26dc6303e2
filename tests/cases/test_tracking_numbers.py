"""Tracking numbers: readable, check-digited, unique under concurrent submissions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.cases.tracking import (
    allocate_tracking_number,
    format_tracking_number,
    luhn_digit,
    normalize_tracking_number,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_format_and_normalise() -> None:
    number = format_tracking_number("LJ", "2611", 42)
    assert number == f"LJ-2611-0042-{luhn_digit('26110042')}"
    assert normalize_tracking_number(number) == number
    assert normalize_tracking_number(" lj 2611 0042 " + number[-1]) == number
    assert normalize_tracking_number(number.replace("-", "")) == number
    assert format_tracking_number("LJ", "2611", 123456).startswith("LJ-2611-123456-")
    for bad in ("", "LJ-2611-0042", "LJ-26-0042-1", "12345", "LJ-2611-00A2-1"):
        assert normalize_tracking_number(bad) is None


@given(st.integers(min_value=1, max_value=999_999), st.integers(min_value=0, max_value=9))
def test_check_digit_catches_a_mistyped_digit(sequence: int, wrong: int) -> None:
    number = format_tracking_number("LJ", "2611", sequence)
    check = int(number[-1])
    if wrong != check:
        assert normalize_tracking_number(number[:-1] + str(wrong)) is None
    digits = number.split("-")[2]
    typo = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    assert normalize_tracking_number(f"LJ-2611-{typo}-{check}") is None


def test_sequences_restart_each_month_and_never_repeat(session) -> None:
    numbers = [allocate_tracking_number(session, "LJ", NOW) for _ in range(5)]
    december = allocate_tracking_number(session, "LJ", NOW.replace(month=12, day=1))
    session.commit()
    assert [n.split("-")[2] for n in numbers] == ["0001", "0002", "0003", "0004", "0005"]
    assert december.startswith("LJ-2612-0001-")


def test_rolled_back_numbers_are_given_back(session) -> None:
    first = allocate_tracking_number(session, "LJ", NOW)
    session.rollback()
    assert allocate_tracking_number(session, "LJ", NOW) == first


@pytest.mark.slow
def test_concurrent_allocations_are_unique(app) -> None:
    factory = app.extensions["db"].session_factory
    threads, per_thread = 6, 8
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker() -> None:
        try:
            start.wait()
            for _ in range(per_thread):
                with factory() as session:
                    number = allocate_tracking_number(session, "LJ", NOW)
                    session.commit()
                with lock:
                    results.append(number)
        except BaseException as exc:  # reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(results) == threads * per_thread
    assert len(set(results)) == len(results)
    sequences = sorted(int(n.split("-")[2]) for n in results)
    assert sequences == list(range(1, threads * per_thread + 1))


def test_submitted_cases_get_distinct_numbers(make_case) -> None:
    numbers = {make_case().tracking_number for _ in range(4)}
    assert len(numbers) == 4
