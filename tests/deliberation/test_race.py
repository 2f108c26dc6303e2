"""Concurrency on PostgreSQL: 100 parallel supports, each thread with its own session (sharing
24 connections), released together by a barrier.

* the same resident 100 times → one support row, counter 1;
* 100 residents → exactly 100 rows, counter 100, and the threshold (50) fires exactly once:
  one ``reach_threshold`` event, one linked case, one round of notifications.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from portal.accounts.models import User
from portal.cases.models import Case, Notification
from portal.db import make_engine
from portal.deliberation.models import Proposal, ProposalEvent, Support
from portal.deliberation.services import support_proposal
from portal.errors import DomainError
from tests.factories import create_user

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

PARALLEL = 100
CONNECTIONS = 24


def _run_parallel(app: Any, proposal_id: int, user_ids: list[int]) -> list[str]:
    # Its own engine: 24 connections (PostgreSQL allows 100 clients in all, other test runs use
    # some); 100 threads compete for them and, inside, for the proposal's row lock.
    engine = make_engine(
        app.config["DATABASE_URL"], pool_size=CONNECTIONS, max_overflow=0, pool_timeout=120
    )
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    barrier = threading.Barrier(len(user_ids))

    def support(user_id: int) -> str:
        with app.app_context():
            session = factory()
            try:
                barrier.wait(timeout=60)
                user = session.get(User, user_id)
                proposal = session.get(Proposal, proposal_id)
                result = support_proposal(session, proposal=proposal, user=user)
                session.commit()
                return (
                    "fired" if result.threshold_fired else ("new" if result.created else "repeat")
                )
            except DomainError as error:
                session.rollback()
                return f"refused:{error.code}"
            finally:
                session.close()

    try:
        with ThreadPoolExecutor(max_workers=len(user_ids)) as pool:
            return list(pool.map(support, user_ids))
    finally:
        engine.dispose()


@pytest.fixture
def race_app(app):  # type: ignore[no-untyped-def]
    """The app, on PostgreSQL only (see ``pytestmark``)."""
    assert app.extensions["db"].engine.dialect.name == "postgresql"
    return app


def test_same_resident_100_times_counts_once(race_app, settings, make_proposal, resident) -> None:  # type: ignore[no-untyped-def]
    from portal import get_session

    settings(proposal_support_threshold=50)
    proposal = make_proposal()
    me = resident()
    outcomes = _run_parallel(race_app, proposal.id, [me.id] * PARALLEL)
    assert outcomes.count("new") == 1 and outcomes.count("repeat") == PARALLEL - 1, outcomes
    session = get_session()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Support)) == 1
    assert session.get(Proposal, proposal.id).support_count == 1


def test_100_residents_count_100_and_threshold_fires_once(
    race_app, settings, make_proposal
) -> None:  # type: ignore[no-untyped-def]
    from portal import get_session

    settings(proposal_support_threshold=50)
    proposal = make_proposal()
    session = get_session()
    user_ids = [create_user(session, verification_level=2).id for _ in range(PARALLEL)]
    outcomes = _run_parallel(race_app, proposal.id, user_ids)
    assert outcomes.count("fired") == 1, outcomes
    assert outcomes.count("new") == PARALLEL - 1, outcomes
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Support)) == PARALLEL
    fresh = session.get(Proposal, proposal.id)
    assert fresh.support_count == PARALLEL
    events = list(
        session.scalars(select(ProposalEvent.type).where(ProposalEvent.proposal_id == proposal.id))
    )
    assert events.count("reach_threshold") == 1 and events.count("route") == 1
    assert (
        session.scalar(select(func.count()).select_from(Case).where(Case.kind == "proposal")) == 1
    )
    assert fresh.status == "under_review"
    threshold_notes = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.payload["event"].as_string() == "proposal_threshold_reached")
    )
    # The author and the supporters who came before the threshold (each notified once).
    assert threshold_notes == len(
        set(
            session.scalars(
                select(Notification.user_id).where(
                    Notification.payload["event"].as_string() == "proposal_threshold_reached"
                )
            )
        )
    )
    assert 50 <= threshold_notes <= PARALLEL + 1
