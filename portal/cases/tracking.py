"""Tracking numbers residents can read out on the phone: ``LJ-2611-0042-7``.

Prefix (the jurisdiction's ``tracking_prefix`` setting), year and month, a per-month sequence
(four digits, more when a month passes 9999) and a Luhn check digit that catches one mistyped
digit or two swapped neighbours.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.cases.models import TrackingCounter

_PATTERN = re.compile(r"^([A-Z]{1,6})-?(\d{4})-?(\d{4,7})-?(\d)$")


def luhn_digit(digits: str) -> int:
    """The Luhn check digit for a string of digits."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def format_tracking_number(prefix: str, period: str, sequence: int) -> str:
    seq = f"{sequence:04d}"
    return f"{prefix}-{period}-{seq}-{luhn_digit(period + seq)}"


def normalize_tracking_number(raw: str) -> str | None:
    """Canonical form of what a resident typed (case, spaces, dashes), or None if it cannot be
    a tracking number (wrong shape or wrong check digit)."""
    cleaned = re.sub(r"[\s\u3000]+", "", raw or "").upper().replace("—", "-").replace("－", "-")
    match = _PATTERN.match(cleaned)
    if match is None:
        return None
    prefix, period, seq, check = match.groups()
    if luhn_digit(period + seq) != int(check):
        return None
    return f"{prefix}-{period}-{seq}-{check}"


def next_sequence(session: Session, period: str) -> int:
    """Atomically take the next number of ``period`` (``YYMM``) inside the current transaction.

    ``UPDATE … RETURNING`` locks the counter row until commit (PostgreSQL) or takes the write
    lock (SQLite), so two submissions never get the same number and a rolled-back submission
    gives its number back.
    """
    stmt = (
        update(TrackingCounter)
        .where(TrackingCounter.period == period)
        .values(last_value=TrackingCounter.last_value + 1)
        .returning(TrackingCounter.last_value)
        .execution_options(synchronize_session=False)
    )
    value = session.execute(stmt).scalar()
    if value is not None:
        return int(value)
    try:
        with session.begin_nested():
            session.execute(insert(TrackingCounter).values(period=period, last_value=1))
        return 1
    except IntegrityError:  # another submission created the month's row first
        value = session.execute(stmt).scalar_one()
        return int(value)


def allocate_tracking_number(session: Session, prefix: str, now: datetime) -> str:
    period = now.strftime("%y%m")
    return format_tracking_number(prefix, period, next_sequence(session, period))
