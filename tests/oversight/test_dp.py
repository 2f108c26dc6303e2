"""The DP mechanism, statistically; the release ledger (once per month and query, budget)."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.errors import Conflict, ValidationError
from portal.oversight import dp
from portal.oversight.models import DpRelease
from tests.oversight.conftest import T0

DRAWS = 2000


@pytest.mark.parametrize("epsilon", [0.5, 1.0])
def test_discrete_laplace_noise_is_unbiased_with_the_variance_of_its_epsilon(
    epsilon: float,
) -> None:
    scale = dp.discrete_laplace_scale(epsilon)
    true = [7] * DRAWS
    noisy = dp.add_noise(true, scale=scale)
    errors = [n - t for n, t in zip(noisy, true, strict=True)]
    assert all(isinstance(e, int) for e in errors)
    expected_var = dp.noise_variance(scale)
    # Mean error: within 4 standard errors of zero.
    assert abs(statistics.fmean(errors)) < 4 * math.sqrt(expected_var / DRAWS)
    # Empirical variance within 20 % of the discrete Laplace variance 2p/(1-p)^2 (the sampling
    # s.d. of a variance of this distribution over 2000 draws is about 6 %).
    assert abs(statistics.pvariance(errors) / expected_var - 1) < 0.2
    # The stated 95 % interval covers about 95 % of the draws.
    k = dp.noise_interval(scale)
    coverage = sum(abs(e) <= k for e in errors) / DRAWS
    assert 0.93 <= coverage <= 0.985
    # OpenDP proves the privacy loss we record.
    assert dp.privacy_loss(scale) == pytest.approx(epsilon)


def test_smaller_epsilon_means_more_noise() -> None:
    assert dp.noise_interval(dp.discrete_laplace_scale(0.1)) > dp.noise_interval(
        dp.discrete_laplace_scale(1.0)
    )
    with pytest.raises(ValidationError):
        dp.discrete_laplace_scale(0)


def test_month_boundaries_are_beijing_time() -> None:
    start, end = dp.parse_month("2026-11")
    assert start == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 16, tzinfo=UTC)
    with pytest.raises(ValidationError):
        dp.parse_month("2026-13")


def test_true_counts_cover_every_cell_and_roll_communities_up(session, world, add_case) -> None:  # type: ignore[no-untyped-def]
    add_case(area=world.east_community, category=world.roads, department=world.roads_dept)
    add_case(area=world.east, category=world.roads, department=world.roads_dept)
    add_case(area=None, category=world.lights, department=world.lights_dept)
    add_case(area=world.west, category=None, status="triage")  # uncategorised: in no cell
    add_case(area=world.west, category=world.roads, created=T0 + timedelta(days=40))  # next month
    cells = dp.true_counts(session, month="2026-10", query=dp.QUERIES["street_category"])
    assert cells == {
        ("D-E", "LIGHT"): 0,
        ("D-E", "ROAD"): 2,
        ("D-W", "LIGHT"): 0,
        ("D-W", "ROAD"): 0,
        (dp.NO_AREA, "LIGHT"): 1,
        (dp.NO_AREA, "ROAD"): 0,
    }
    groups = dp.true_counts(session, month="2026-10", query=dp.QUERIES["street_group"])
    assert groups[("D-E", "CITY")] == 2 and len(groups) == 3


def test_a_release_is_drawn_once_and_read_from_the_ledger(session, world, add_case) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        add_case(area=world.east, category=world.roads, department=world.roads_dept)
    now = datetime(2026, 11, 15, tzinfo=UTC)
    first, created = dp.release_month(session, month="2026-10", query="street_category", now=now)
    session.commit()
    assert created and first.epsilon == 0.5 and first.scale == 2.0
    published = [dict(c) for c in first.cells]
    assert {(c["area"], c["category"]) for c in published} == {
        (a, c) for a in ("D-E", "D-W", dp.NO_AREA) for c in ("LIGHT", "ROAD")
    }
    # More cases arrive late, and the release is asked for again: the same numbers come back.
    add_case(area=world.east, category=world.roads, department=world.roads_dept)
    for _ in range(3):
        again, created = dp.release_month(
            session, month="2026-10", query="street_category", now=now
        )
        session.commit()
        assert not created and again.id == first.id and again.cells == published
    assert session.scalar(select(func.count()).select_from(DpRelease)) == 1
    assert dp.epsilon_spent(session, "2026-10") == 0.5


def test_budget_is_enforced_and_unfinished_months_are_refused(session, world) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 15, tzinfo=UTC)
    with pytest.raises(ValidationError):
        dp.release_month(session, month="2026-11", query="street_group", now=now)
    dp.release_month(session, month="2026-10", query="street_group", epsilon=0.7, now=now)
    session.commit()
    with pytest.raises(Conflict, match="budget"):
        dp.release_month(session, month="2026-10", query="street_category", epsilon=0.5, now=now)
    session.rollback()
    _release, created = dp.release_month(
        session, month="2026-10", query="street_category", epsilon=0.3, now=now
    )
    session.commit()
    assert created and dp.epsilon_spent(session, "2026-10") == pytest.approx(1.0)
    with pytest.raises(ValidationError):
        dp.release_month(session, month="2026-10", query="nonsense", now=now)


def test_cli_releases_then_reports_the_existing_release(app, world, add_case) -> None:  # type: ignore[no-untyped-def]
    add_case(area=world.west, category=world.lights, department=world.lights_dept)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["dp", "release", "--month", "2026-10"])
    assert result.exit_code == 0, result.output
    assert result.output.count("released;") == 2 and "±" in result.output
    again = runner.invoke(args=["dp", "release", "--month", "2026-10"])
    assert again.exit_code == 0 and again.output.count("not re-drawn") == 2
    bad = runner.invoke(args=["dp", "release", "--month", "October"])
    assert bad.exit_code != 0 and "month must look like" in bad.output
    assert "spent 1 of 1" in runner.invoke(args=["dp", "budget", "--month", "2026-10"]).output
