"""Differentially private open statistics: discrete Laplace noise (OpenDP) on monthly counts.

The privacy unit is one case: adding or removing a case changes exactly one cell of an
area × category table by one, so the L1 sensitivity is 1. Every cell of the full cross product
(all streets, plus "no location", × all categories of the catalogue) is released, zeros included,
so the shape of the table says nothing and no small cell is suppressed. A release is drawn once per
(month, query), stored in :class:`~portal.oversight.models.DpRelease`, and only read afterwards;
the epsilon spent per month is capped by a budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.cases.models import Case
from portal.db import utcnow
from portal.errors import Conflict, ValidationError
from portal.jurisdiction.models import Area, Category, Setting
from portal.oversight.models import DpRelease

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
MECHANISM = "discrete Laplace (OpenDP make_laplace, integer domain)"
SENSITIVITY = 1
#: The area code used for cases without a known street.
NO_AREA = "-"
#: Defaults of the oversight settings (a ``Setting`` row with the same key overrides each).
DP_DEFAULTS: dict[str, float] = {
    "dp_epsilon_per_release": 0.5,
    "dp_monthly_epsilon_budget": 1.0,
}


@dataclass(frozen=True)
class DpQuery:
    """A released table: streets × category groups, or streets × categories."""

    name: str
    level: str  # group | category


QUERIES: dict[str, DpQuery] = {
    q.name: q for q in (DpQuery("street_group", "group"), DpQuery("street_category", "category"))
}


def dp_setting(session: Session, key: str) -> float:
    row = session.get(Setting, key)
    return float(row.value) if row is not None else DP_DEFAULTS[key]


# --- the mechanism -------------------------------------------------------------------------


def discrete_laplace_scale(epsilon: float, sensitivity: int = SENSITIVITY) -> float:
    """Scale b = sensitivity / epsilon: P(noise = k) ∝ exp(−|k| / b)."""
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ValidationError("epsilon must be a positive number", field="epsilon")
    return sensitivity / epsilon


def noise_variance(scale: float) -> float:
    """Variance of the discrete Laplace distribution of scale b: 2p / (1 − p)², p = e^(−1/b)."""
    p = math.exp(-1 / scale)
    return 2 * p / (1 - p) ** 2


def noise_interval(scale: float, level: float = 0.95) -> int:
    """The smallest k with P(|noise| ≤ k) ≥ level (P(|noise| > k) = 2p^(k+1) / (1 + p))."""
    p = math.exp(-1 / scale)
    k = 0
    while 2 * p ** (k + 1) / (1 + p) > 1 - level:
        k += 1
    return k


@lru_cache(maxsize=16)
def _measurement(scale: float) -> Any:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale=scale
    )


def add_noise(counts: list[int], *, scale: float) -> list[int]:
    """Each count plus independent discrete Laplace noise of the given scale (OpenDP's sampler)."""
    if not counts:
        return []
    return [int(v) for v in _measurement(float(scale))([int(c) for c in counts])]


def privacy_loss(scale: float, sensitivity: int = SENSITIVITY) -> float:
    """The epsilon OpenDP proves for the mechanism at this scale and sensitivity."""
    return float(_measurement(float(scale)).map(sensitivity))


# --- months and the ledger -----------------------------------------------------------------


def parse_month(month: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` → the month's [start, end) in UTC, months taken in local (Beijing) time."""
    try:
        start_local = datetime.strptime(month, "%Y-%m").replace(tzinfo=LOCAL_TZ)
    except (TypeError, ValueError):
        raise ValidationError("month must look like 2026-11", field="month") from None
    if start_local.month == 12:
        end_local = start_local.replace(year=start_local.year + 1, month=1)
    else:
        end_local = start_local.replace(month=start_local.month + 1)
    return start_local.astimezone(UTC), end_local.astimezone(UTC)


def true_counts(session: Session, *, month: str, query: DpQuery) -> dict[tuple[str, str], int]:
    """The exact counts of the full area × category cross product (never stored or shown)."""
    start, end = parse_month(month)
    areas = {a.id: a for a in session.scalars(select(Area))}
    streets = sorted(a.code for a in areas.values() if a.level == "street")
    categories = session.scalars(select(Category).order_by(Category.code)).all()
    by_id = {c.id: c for c in categories}
    if query.level == "group":
        labels = [c.code for c in categories if c.parent_id is None]
    else:
        labels = [c.code for c in categories if c.parent_id is not None]
    cells: dict[tuple[str, str], int] = {
        (area, label): 0 for area in [*streets, NO_AREA] for label in labels
    }
    rows = session.execute(
        select(Case.area_id, Case.category_id, func.count())
        .where(Case.created_at >= start, Case.created_at < end)
        .group_by(Case.area_id, Case.category_id)
    )
    for area_id, category_id, n in rows:
        category = by_id.get(category_id)
        if category is None:
            continue  # not yet categorised (in triage): not in a category table
        label = category.group.code if query.level == "group" else category.code
        area = areas.get(area_id)
        street = area.street() if area is not None else None
        key = (street.code if street is not None else NO_AREA, label)
        if key in cells:
            cells[key] += n
    return cells


def epsilon_spent(session: Session, month: str) -> float:
    return float(
        session.scalar(
            select(func.coalesce(func.sum(DpRelease.epsilon), 0.0)).where(DpRelease.month == month)
        )
        or 0.0
    )


def get_release(session: Session, *, month: str, query: str) -> DpRelease | None:
    return session.scalar(
        select(DpRelease).where(DpRelease.month == month, DpRelease.query == query)
    )


def release_month(
    session: Session,
    *,
    month: str,
    query: str,
    epsilon: float | None = None,
    now: datetime | None = None,
) -> tuple[DpRelease, bool]:
    """Release (month, query) once; ``(release, created)``. An existing release is returned as it
    is (a published number is never re-drawn). Only complete months are released, and the month's
    total epsilon may not exceed its budget (raises Conflict)."""
    spec = QUERIES.get(query)
    if spec is None:
        raise ValidationError(f"unknown query; choose one of {', '.join(QUERIES)}", field="query")
    _, end = parse_month(month)
    existing = get_release(session, month=month, query=query)
    if existing is not None:
        return existing, False
    if end > (now or utcnow()):
        raise ValidationError("only a month that has ended can be released", field="month")
    epsilon = dp_setting(session, "dp_epsilon_per_release") if epsilon is None else epsilon
    scale = discrete_laplace_scale(epsilon)
    budget = dp_setting(session, "dp_monthly_epsilon_budget")
    spent = epsilon_spent(session, month)
    if spent + epsilon > budget + 1e-9:
        raise Conflict(
            f"privacy budget exhausted for {month}: spent {spent:g} of {budget:g}, "
            f"this release needs {epsilon:g}"
        )
    cells = true_counts(session, month=month, query=spec)
    keys = list(cells)
    noisy = add_noise([cells[k] for k in keys], scale=scale)
    release = DpRelease(
        month=month,
        query=query,
        epsilon=epsilon,
        sensitivity=SENSITIVITY,
        scale=scale,
        mechanism=MECHANISM,
        cells=[
            {"area": area, "category": label, "count": value}
            for (area, label), value in zip(keys, noisy, strict=True)
        ],
    )
    try:
        with session.begin_nested():
            session.add(release)
            session.flush()
    except IntegrityError:  # another process released it first: theirs is the published one
        winner = get_release(session, month=month, query=query)
        if winner is None:
            raise
        return winner, False
    return release, True


def list_releases(
    session: Session, *, page: int = 1, per_page: int = 20
) -> tuple[list[DpRelease], int]:
    total = session.scalar(select(func.count()).select_from(DpRelease)) or 0
    rows = session.scalars(
        select(DpRelease)
        .order_by(DpRelease.month.desc(), DpRelease.query)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(rows), total


def release_summary(release: DpRelease) -> dict[str, Any]:
    """What the page states about how noisy a release is."""
    return {
        "scale": release.scale,
        "std": math.sqrt(noise_variance(release.scale)),
        "interval95": noise_interval(release.scale),
        "epsilon": release.epsilon,
        "sensitivity": release.sensitivity,
        "cells": len(release.cells),
        "negative_cells": sum(1 for c in release.cells if c["count"] < 0),
        "total": sum(c["count"] for c in release.cells),
    }
