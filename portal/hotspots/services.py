"""Hotspot detection over recent cases, and what coordinators do with an alert.

``detect_hotspots`` runs :mod:`nlp.hotspots` over the cases of the last windows (masked texts,
category, street, coordinates) and writes or updates :class:`HotspotAlert` rows. It is
idempotent: an alert whose hotspot is still going on (same kind, area and category for a
surge; shared cases for a cluster, within the last window) is updated, not duplicated, and
keeps the status a coordinator gave it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from nlp.hotspots import Cluster, Record, Surge, detect_surges, find_clusters
from portal import permissions
from portal.accounts.models import User
from portal.audit.services import record_audit
from portal.cases.models import Case
from portal.cases.queries import Page, paginate
from portal.cases.status import record_event
from portal.db import utcnow
from portal.errors import NotFound, ValidationError
from portal.hotspots.models import KINDS, OPEN_STATUSES, STATUSES, HotspotAlert
from portal.jurisdiction.models import Area
from portal.jurisdiction.services import get_setting
from portal.oversight.dp import LOCAL_TZ
from portal.system_messages import KEY as MESSAGE_KEY
from portal.system_messages import system_message

MAX_CASES = 20_000  # the most recent cases read per run
CLUSTER_RADIUS_M = 1_000.0
N_TERMS = 6


@dataclass(frozen=True)
class DetectionReport:
    created: list[HotspotAlert]
    updated: list[HotspotAlert]
    cases_read: int

    @property
    def alerts(self) -> list[HotspotAlert]:
        return [*self.created, *self.updated]


def _street_id(area: Area | None) -> int | None:
    """Surges are counted by street: a community rolls up to its street."""
    if area is None:
        return None
    if area.level == "community" and area.parent_id is not None:
        return area.parent_id
    return area.id


def _records(cases: Sequence[Case]) -> list[Record]:
    out = []
    for c in cases:
        category_id = c.category_id or c.predicted_category_id
        out.append(
            Record(
                id=c.id,
                text=c.text_masked or "",
                time=c.created_at,
                area=None if (s := _street_id(c.area)) is None else str(s),
                category=None if category_id is None else str(category_id),
                lat=c.lat,
                lon=c.lon,
                weight=float(c.me_too_count or 0),
            )
        )
    return out


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _recent_alerts(session: Session, kind: str, since: datetime) -> list[HotspotAlert]:
    return list(
        session.scalars(
            select(HotspotAlert)
            .where(HotspotAlert.kind == kind, HotspotAlert.window_end >= since)
            .order_by(HotspotAlert.id)
        )
    )


def _terms(cases_by_id: dict[int, Case], ids: Sequence[int]) -> list[str]:
    from nlp import top_terms

    return top_terms([cases_by_id[i].text_masked for i in ids if i in cases_by_id][:200], N_TERMS)


def _apply(
    alert: HotspotAlert,
    *,
    case_ids: list[int],
    terms: list[str],
    score: float,
    details: dict[str, Any],
    start: datetime,
    end: datetime,
    now: datetime,
) -> bool:
    """Update the alert; True if anything changed."""
    merged = sorted(set(alert.case_ids or []) | set(case_ids))
    changed = merged != sorted(alert.case_ids or []) or details != (alert.details or {})
    alert.case_ids = merged
    alert.size = len(merged)
    alert.terms = terms
    alert.score = score
    alert.details = details
    if alert.window_start is None or start < alert.window_start:
        alert.window_start = start
    if alert.window_end is None or end > alert.window_end:
        alert.window_end = end
    if changed:
        alert.updated_at = now
    return changed


def detect_hotspots(session: Session, *, now: datetime | None = None) -> DetectionReport:
    """Run the detector over recent cases; create new alerts, update ongoing ones. Flushes."""
    now = now or utcnow()
    window = timedelta(days=float(get_setting(session, "hotspot_window_days")))
    surge_days = float(get_setting(session, "hotspot_surge_days"))
    baseline_days = float(get_setting(session, "hotspot_baseline_days"))
    since = now - max(window, timedelta(days=surge_days + baseline_days))
    cases = list(
        session.scalars(
            select(Case)
            .where(Case.created_at >= since, Case.created_at < now)
            .options(selectinload(Case.area))
            .order_by(Case.created_at.desc())
            .limit(MAX_CASES)
        )
    )
    by_id = {c.id: c for c in cases}
    records = _records(cases)
    created: list[HotspotAlert] = []
    updated: list[HotspotAlert] = []

    surges = detect_surges(
        records,
        now=now,
        recent_days=surge_days,
        baseline_days=baseline_days,
        min_count=int(get_setting(session, "hotspot_surge_min_count")),
        tz=LOCAL_TZ,  # weekdays as residents live them (the weekly profile of the baseline)
    )
    ongoing = _recent_alerts(session, "surge", now - window)
    for s in surges:
        area_id, category_id = _int(s.area), _int(s.category)
        alert = next(
            (a for a in ongoing if a.area_id == area_id and a.category_id == category_id), None
        )
        fields = _surge_fields(s, by_id, now)
        if alert is None:
            alert = HotspotAlert(
                kind="surge", area_id=area_id, category_id=category_id, created_at=now
            )
            _apply(alert, **fields)
            session.add(alert)
            ongoing.append(alert)
            created.append(alert)
        elif _apply(alert, **fields):
            updated.append(alert)

    recent = [r for r in records if r.time >= now - window]
    clusters = find_clusters(
        recent,
        window_days=window.total_seconds() / 86_400,
        radius_m=CLUSTER_RADIUS_M,
        min_size=int(get_setting(session, "hotspot_cluster_min_size")),
        n_terms=N_TERMS,
    )
    ongoing = _recent_alerts(session, "cluster", now - window)
    for c in clusters:
        ids = set(c.ids)
        alert = next((a for a in ongoing if ids & set(a.case_ids or [])), None)
        fields = _cluster_fields(c, now)
        if alert is None:
            alert = HotspotAlert(
                kind="cluster",
                area_id=_int(c.area),
                category_id=_int(c.category),
                created_at=now,
            )
            _apply(alert, **fields)
            session.add(alert)
            ongoing.append(alert)
            created.append(alert)
        elif _apply(alert, **fields):
            updated.append(alert)
    session.flush()
    return DetectionReport(created=created, updated=updated, cases_read=len(cases))


def _surge_fields(s: Surge, by_id: dict[int, Case], now: datetime) -> dict[str, Any]:
    ids = [int(i) for i in s.ids]
    return {
        "case_ids": ids,
        "terms": _terms(by_id, ids),
        "score": float(s.score),
        "details": {"count": s.count, "expected": s.expected, "upper_bound": s.upper_bound},
        "start": s.window_start,
        "end": s.window_end,
        "now": now,
    }


def _cluster_fields(c: Cluster, now: datetime) -> dict[str, Any]:
    return {
        "case_ids": [int(i) for i in c.ids],
        "terms": c.terms,
        "score": float(c.size),
        "details": {"representatives": [int(i) for i in c.representatives], "likes": c.weight},
        "start": c.start,
        "end": c.end,
        "now": now,
    }


# --- reading --------------------------------------------------------------------------------


def _require_coordinator(user: User | None) -> None:
    if not permissions.can_see_hotspots(user):
        raise NotFound(_("No such page."))


def list_alerts(
    session: Session, *, user: User | None, status: str | None, page: int, per_page: int
) -> Page[HotspotAlert]:
    _require_coordinator(user)
    stmt: Select[Any] = select(HotspotAlert).options(
        selectinload(HotspotAlert.area), selectinload(HotspotAlert.category)
    )
    if status:
        if status == "open":
            stmt = stmt.where(HotspotAlert.status.in_(OPEN_STATUSES))
        elif status in STATUSES:
            stmt = stmt.where(HotspotAlert.status == status)
        else:
            raise ValidationError(_("Unknown status."), field="status")
    stmt = stmt.order_by(HotspotAlert.window_end.desc(), HotspotAlert.id.desc())
    return paginate(session, stmt, page, per_page)  # type: ignore[arg-type]


def get_alert(session: Session, alert_id: int, *, user: User | None) -> HotspotAlert:
    _require_coordinator(user)
    alert = session.get(HotspotAlert, alert_id)
    if alert is None:
        raise NotFound(_("No such alert."))
    return alert


def alert_cases(session: Session, alert: HotspotAlert) -> list[Case]:
    """The alert's cases, newest first."""
    if not alert.case_ids:
        return []
    return list(
        session.scalars(
            select(Case).where(Case.id.in_(alert.case_ids)).order_by(Case.created_at.desc())
        )
    )


# --- acting on an alert ---------------------------------------------------------------------


def set_alert_status(
    session: Session, *, alert: HotspotAlert, user: User, status: str, note: str | None = None
) -> HotspotAlert:
    """Acknowledge or dismiss an alert (or reopen a dismissed one). Audited. Flushes."""
    _require_coordinator(user)
    if status not in ("new", "acknowledged", "dismissed"):
        raise ValidationError(_("Unknown status."), field="status")
    if alert.status == "actioned":
        raise ValidationError(_("This alert has already been acted on."), field="status")
    _change_status(
        session, alert, user, note, status=status, action="hotspot.status", note_is_reason=True
    )
    session.flush()
    return alert


def _require_actionable(alert: HotspotAlert) -> None:
    if alert.task_case_id is not None or alert.proposal_id is not None:
        raise ValidationError(_("This alert has already been acted on."), field=None)
    if alert.category is None:
        raise ValidationError(
            _("This alert has no category; open a case from one of its cases instead."),
            field=None,
        )


def alert_summary(alert: HotspotAlert) -> str:
    """One sentence naming the hotspot, in the current language."""
    area = alert.area.name if alert.area is not None else _("the whole jurisdiction")
    category = alert.category.name if alert.category is not None else _("several categories")
    terms = "、".join(alert.terms or [])
    if alert.kind == "surge":
        return _(
            "Surge of %(category)s in %(area)s: %(count)d cases against about %(expected)s "
            "expected (%(terms)s).",
            category=category,
            area=area,
            count=(alert.details or {}).get("count", alert.size),
            expected=(alert.details or {}).get("expected", "?"),
            terms=terms,
        )
    return _(
        "%(size)d similar cases about %(category)s in %(area)s (%(terms)s).",
        size=alert.size,
        category=category,
        area=area,
        terms=terms,
    )


def open_task(
    session: Session, *, alert: HotspotAlert, user: User, note: str | None = None, model: Any = None
) -> Case:
    """A proactive task (未诉先办): a staff-channel inquiry routed to the category's department,
    linked to the alert. Audited. Flushes."""
    from portal.cases.services import submit_case

    _require_coordinator(user)
    _require_actionable(alert)
    text = alert_summary(alert)
    note = (note or "").strip()
    if note:
        text = f"{text}\n{note}"
    case = submit_case(
        session,
        text=text,
        channel="staff",
        submitter=user,
        kind="inquiry",
        category_code=alert.category.code,  # type: ignore[union-attr]
        area_code=alert.area.code if alert.area is not None else None,
        anonymous=False,
        model=model,
    )
    record_event(
        session,
        case,
        "note",
        actor=user,
        public=False,
        data={MESSAGE_KEY: system_message("case_opened_from_hotspot", id=alert.id)},
    )
    _mark_actioned(session, alert, user, note, after={"task_case": case.tracking_number})
    alert.task_case_id = case.id
    session.flush()
    return case


def open_proposal(
    session: Session, *, alert: HotspotAlert, user: User, note: str | None = None
) -> Any:
    """A deliberation thread (a proposal) prefilled from the alert, with the coordinator as its
    author (the deliberation rules apply: verification level, blocks). Audited. Flushes."""
    from portal.deliberation.services import create_proposal

    _require_coordinator(user)
    _require_actionable(alert)
    title = _("What should be done about %(terms)s?", terms="、".join(alert.terms[:3] or []))
    body = alert_summary(alert)
    if note and note.strip():
        body = f"{body}\n{note.strip()}"
    proposal = create_proposal(
        session,
        author=user,
        title=title,
        body=body,
        category_code=alert.category.code,  # type: ignore[union-attr]
        area_code=alert.area.code if alert.area is not None else None,
    )
    _mark_actioned(session, alert, user, note, after={"proposal": proposal.id})
    alert.proposal_id = proposal.id
    session.flush()
    return proposal


def _mark_actioned(
    session: Session, alert: HotspotAlert, user: User, note: str | None, *, after: dict[str, Any]
) -> None:
    _change_status(session, alert, user, note, status="actioned", action="hotspot.action", **after)


def _change_status(
    session: Session,
    alert: HotspotAlert,
    user: User,
    note: str | None,
    *,
    status: str,
    action: str,
    note_is_reason: bool = False,
    **after: Any,
) -> None:
    """Set the alert's status with who, when and the note, and audit it (``note_is_reason``:
    the note is also the audit entry's reason)."""
    before = alert.status
    alert.status = status
    alert.actioned_by_id = user.id
    alert.actioned_at = utcnow()
    alert.action_note = (note or "").strip()[:500] or None
    record_audit(
        session,
        actor=user,
        action=action,
        target_type="hotspot_alert",
        target_id=alert.id,
        before={"status": before},
        after={"status": status, **after},
        reason=alert.action_note if note_is_reason else None,
    )


__all__ = [
    "KINDS",
    "DetectionReport",
    "alert_cases",
    "alert_summary",
    "detect_hotspots",
    "get_alert",
    "list_alerts",
    "open_proposal",
    "open_task",
    "set_alert_status",
]
