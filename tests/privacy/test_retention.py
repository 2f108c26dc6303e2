"""Retention: contacts, raw texts and exact points of closed cases are erased or coarsened when
due; the job is idempotent and crash-safe (killed mid-run, re-run: no half-anonymised case)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit.models import AuditEntry
from portal.cases.models import Case, CaseContact
from portal.config import PROJECT_ROOT
from portal.db import utcnow
from portal.privacy.models import RetentionMark
from portal.privacy.retention import CRASH_ENV, run_retention
from tests.conftest import TEST_DATA_KEYS

RAW = "楼道灯坏了，我叫李四，电话13700001111。"
MASKED = "楼道灯坏了，我叫[姓名]，电话[电话]。"
LAT, LON = 28.2223456, 112.8601234


def add_closed_cases(session: Session, count: int, *, closed_days_ago: int, prefix: str) -> None:
    """Closed cases with contacts, inserted directly (the lifecycle is not what is tested)."""
    closed_at = utcnow() - timedelta(days=closed_days_ago)
    for n in range(count):
        case = Case(
            tracking_number=f"{prefix}-{n}",
            status="closed",
            text_raw=RAW,
            text_masked=MASKED,
            title="楼道灯坏了",
            address_text="枫林三路88号",
            lat=LAT,
            lon=LON,
            created_at=closed_at - timedelta(days=10),
            closed_at=closed_at,
        )
        case.contact = CaseContact(
            name="李四", phone="13700001111", consent_purpose="case_handling"
        )
        session.add(case)
    session.commit()


def case_states(session: Session) -> dict[str, str]:
    """``tracking number → "done" | "untouched"``; anything else is a half-anonymised case."""
    session.expire_all()
    states = {}
    for case in session.scalars(select(Case).order_by(Case.id)):
        marks = set(
            session.scalars(
                select(RetentionMark.data_class).where(RetentionMark.case_id == case.id)
            )
        )
        done = (
            case.contact is None,
            case.text_raw == MASKED and case.address_text is None,
            (case.lat, case.lon) == (28.222, 112.86),
        )
        if marks == {"contacts", "raw_text", "coordinates", "comments"} and all(done):
            states[case.tracking_number] = "done"
        elif not marks and not any(done):
            states[case.tracking_number] = "untouched"
        else:
            states[case.tracking_number] = f"HALF: marks={sorted(marks)} done={done}"
    return states


def test_retention_rules_and_idempotence(app, session) -> None:  # type: ignore[no-untyped-def]
    add_closed_cases(session, 3, closed_days_ago=400, prefix="OLD")
    add_closed_cases(session, 2, closed_days_ago=200, prefix="MID")  # only contacts are due
    add_closed_cases(session, 1, closed_days_ago=10, prefix="NEW")
    factory = app.extensions["db"].session_factory
    summary = run_retention(factory)
    assert summary.cases == 5
    assert summary.steps == {"contacts": 5, "raw_text": 3, "coordinates": 3, "comments": 3}
    session.expire_all()
    mid = session.scalar(select(Case).where(Case.tracking_number == "MID-0"))
    assert mid.contact is None and mid.text_raw == RAW and mid.lat == LAT
    new = session.scalar(select(Case).where(Case.tracking_number == "NEW-0"))
    assert new.contact is not None and new.text_raw == RAW
    old = session.scalar(select(Case).where(Case.tracking_number == "OLD-0"))
    assert old.contact is None and old.text_raw == MASKED and old.address_text is None
    assert (old.lat, old.lon) == (28.222, 112.86)
    again = run_retention(factory)
    assert again.cases == 0
    runs = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "retention_run").order_by(AuditEntry.id)
    ).all()
    assert [r.after["phase"] for r in runs] == ["started", "finished", "started", "finished"]
    assert runs[1].after["steps"]["contacts"] == 5 and runs[3].after["cases"] == 0


def _run_cli(db_url: str, instance: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SHUZHI_ENV": "testing",
        "SHUZHI_DATABASE_URL": db_url,
        "SHUZHI_INSTANCE_PATH": str(instance),
        **{f"SHUZHI_{k}": v for k, v in TEST_DATA_KEYS.items()},
        **extra_env,
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "portal", "retention", "run"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_killed_mid_run_then_rerun_leaves_no_half_anonymised_case(
    app, session, db_url, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    add_closed_cases(session, 40, closed_days_ago=400, prefix="K")
    instance = tmp_path / "cli-instance"
    killed = _run_cli(db_url, instance, **{CRASH_ENV: "15"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    states = case_states(session)
    assert not [s for s in states.values() if s.startswith("HALF")], states
    assert list(states.values()).count("done") == 15  # the 16th was killed before its commit
    finished = _run_cli(db_url, instance)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "25 cases anonymised" in finished.stdout
    assert set(case_states(session).values()) == {"done"}
    rerun = _run_cli(db_url, instance)
    assert rerun.returncode == 0 and "0 cases anonymised" in rerun.stdout
