"""Resident intake and public tracking: preview, submit, "me too", look-up and the public view.

One call is one transaction's worth of work: services validate everything first, then write and
``flush()``; the view, API or bot edge commits once. The public view is the only place that
decides which fields of a case may leave the portal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

import nlp
from portal.accounts.models import User
from portal.cases import labels
from portal.cases.classifier import get_model
from portal.cases.models import (
    CHANNELS,
    KINDS,
    Case,
    CaseContact,
    CaseFollower,
    CaseTask,
)
from portal.cases.photos import (
    PhotoUpload,
    PreparedPhoto,
    attach_prepared,
    prepare_photos,
    upload_settings,
)
from portal.cases.status import (
    ASSIGNED,
    CLOSED,
    OPEN_STATUSES,
    RESOLVED,
    TRIAGE,
    record_event,
    transition,
)
from portal.cases.tracking import allocate_tracking_number, normalize_tracking_number
from portal.db import utcnow
from portal.errors import NotFound, ValidationError
from portal.jurisdiction.geometry import valid_coordinates
from portal.jurisdiction.models import Area, Category, Department, SlaProfile
from portal.jurisdiction.services import get_category, get_settings, locate
from portal.routing.services import (
    EMERGENCY_SLA,
    RoutingDecision,
    compute_due_dates,
    route_case,
)
from portal.system_messages import event_note, message_of

__all__ = [
    "CasePreview",
    "PhotoUpload",
    "SimilarCase",
    "compute_due_dates",
    "follow_case",
    "get_case_by_tracking_number",
    "preview_case",
    "public_case_view",
    "route_case",
    "status_label",
    "submit_case",
]

#: Bumped whenever the privacy notice shown beside the consent box changes (stored with each
#: consent, String(20); a second change on one day gets a ``.2`` suffix).
PRIVACY_NOTICE_VERSION = "2026-11-29.3"  # + phone confirmation through the Telegram bot
CONSENT_PURPOSE = "case_handling"
MIN_TEXT_CHARS = 4
MAX_ADDRESS_CHARS = 200
MAX_CONTACT_NAME_CHARS = 60
TITLE_CHARS = 40
#: Similar-case search: open cases of the last days, at most this many candidates.
SIMILAR_WINDOW_DAYS = 90
SIMILAR_CANDIDATES = 400
SIMILAR_LIMIT = 5
_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{4,22}[0-9]$")


@dataclass(frozen=True)
class SimilarCase:
    case: Case
    score: float
    distance_m: float | None


@dataclass(frozen=True)
class CasePreview:
    """What the engine and the rules make of a text before it is submitted (nothing written)."""

    analysis: Any  # nlp.Analysis
    group: Category | None
    category: Category | None
    department: Department | None
    priority: str
    similar: list[SimilarCase]


# --- validation ------------------------------------------------------------------------------


def _clean_text(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError(_("Please describe the problem."), field="text", code="empty_text")
    if len(text) > nlp.MAX_TEXT_CHARS:
        raise ValidationError(
            _(
                "The description is too long: at most %(max)d characters, you wrote %(n)d.",
                max=nlp.MAX_TEXT_CHARS,
                n=len(text),
            ),
            field="text",
            code="text_too_long",
        )
    if len(re.sub(r"\s+", "", text)) < MIN_TEXT_CHARS:
        raise ValidationError(
            _(
                "Please describe the problem in a few more words (at least %(n)d characters).",
                n=MIN_TEXT_CHARS,
            ),
            field="text",
            code="text_too_short",
        )
    return text


def _check_location(
    session: Session, lat: float | None, lon: float | None, area_code: str | None
) -> Area | None:
    """The area a report is about: from the point (must be inside the jurisdiction) or a code."""
    if (lat is None) != (lon is None):
        raise ValidationError(_("Give both latitude and longitude, or neither."), field="location")
    area: Area | None = None
    if lat is not None and lon is not None:
        try:
            lat, lon = float(lat), float(lon)
        except (TypeError, ValueError):
            raise ValidationError(
                _("The coordinates must be decimal numbers."), field="location"
            ) from None
        if not valid_coordinates(lat, lon):
            raise ValidationError(_("These coordinates are not valid."), field="location")
        located = locate(session, lat, lon)
        if not located.inside:
            raise ValidationError(
                _(
                    "This place is outside our district. Please report it to the local hotline "
                    "of the place where it is."
                ),
                field="location",
                code="outside_jurisdiction",
            )
        area = located.area
    if area_code:
        chosen = session.scalar(select(Area).where(Area.code == area_code))
        if chosen is None:
            raise ValidationError(
                _("Unknown area: please choose one from the list."), field="area_code"
            )
        area = chosen if area is None or chosen.level == "community" else area
    return area


def _check_contact(
    contact_name: str | None, contact_phone: str | None, consent: bool
) -> tuple[str | None, str | None]:
    name = (contact_name or "").strip() or None
    phone = (contact_phone or "").strip() or None
    if name is not None and len(name) > MAX_CONTACT_NAME_CHARS:
        raise ValidationError(
            _("The name is too long (at most %(n)d characters).", n=MAX_CONTACT_NAME_CHARS),
            field="contact_name",
        )
    if phone is not None and not _PHONE.match(phone):
        raise ValidationError(
            _("Please give a phone number with digits only (spaces and dashes are fine)."),
            field="contact_phone",
        )
    if (name or phone) and not consent:
        raise ValidationError(
            _("To leave contact details, please agree to their use for handling this case."),
            field="consent",
            code="consent_required",
        )
    return name, phone


def _analyse(text: str, model: Any) -> Any:
    try:
        return nlp.analyse(text, model if model is not None else get_model())
    except nlp.EmptyText:
        raise ValidationError(
            _("Please describe the problem."), field="text", code="empty_text"
        ) from None
    except nlp.TextTooLong:
        raise ValidationError(
            _("The description is too long: at most %(max)d characters.", max=nlp.MAX_TEXT_CHARS),
            field="text",
            code="text_too_long",
        ) from None


def _catalogue_entry(
    rows: Sequence[Category], key: str | None, parent: Category | None
) -> Category | None:
    """A catalogue row from the engine's label (a code, or a name within ``parent``)."""
    if not key:
        return None
    parent_id = parent.id if parent is not None else None
    row = next((r for r in rows if r.code == key), None) or next(
        (r for r in rows if r.name == key and r.parent_id == parent_id), None
    )
    return row if row is not None and row.active else None


def _predicted_categories(
    session: Session, prediction: Any
) -> tuple[Category | None, Category | None]:
    keys = [k for k in (prediction.group, prediction.category) if k]
    # One query for both labels (each may be a code or a name).
    rows = (
        session.scalars(
            select(Category).where(or_(Category.code.in_(keys), Category.name.in_(keys)))
        ).all()
        if keys
        else []
    )
    group = _catalogue_entry(rows, prediction.group, None)
    category = _catalogue_entry(rows, prediction.category, group)
    if category is not None and category.parent_id is None:
        group, category = category, None
    if category is not None and group is not None and category.parent_id != group.id:
        category = None  # the engine's two levels disagree: trust the group
    if group is None and category is not None:
        group = category.group
    return group, category


def mask_known_details(masked: str, *details: str | None) -> str:
    """Hide the resident's own contact details and address wherever they recur in the text.

    A second line of defence behind the engine's PII masking: what the resident typed into the
    contact and address fields is personal by definition, whatever shape it has.
    """
    for detail in details:
        if not detail:
            continue
        normalized = nlp.normalize(detail)
        variants = {detail, normalized, re.sub(r"[\s\-]", "", normalized)}
        for variant in sorted(variants, key=len, reverse=True):
            if variant and len(variant) >= 2:
                masked = masked.replace(variant, "*" * len(variant))
    return masked


def _title(masked: str) -> str:
    first_line = re.sub(r"\s+", " ", masked).strip()
    return first_line if len(first_line) <= TITLE_CHARS else first_line[: TITLE_CHARS - 1] + "…"


# --- preview ---------------------------------------------------------------------------------


def preview_case(
    session: Session,
    *,
    text: str,
    lat: float | None = None,
    lon: float | None = None,
    model: Any = None,
) -> CasePreview:
    """Classify and route a draft, and find similar open cases nearby. Writes nothing."""
    text = _clean_text(text)
    area = _check_location(session, lat, lon, None)
    analysis = _analyse(text, model)
    prediction = analysis.prediction
    group, category = _predicted_categories(session, prediction)
    decision = (
        route_case(session, None, category=category or group, area=area, urgency=prediction.urgency)
        if group is not None
        else None
    )
    return CasePreview(
        analysis=analysis,
        group=group,
        category=category,
        department=decision.department if decision else None,
        priority=decision.priority if decision else _urgency_priority(prediction.urgency),
        similar=find_similar_cases(session, text=analysis.masked_text, lat=lat, lon=lon),
    )


def _urgency_priority(urgency: str | None) -> str:
    return urgency if urgency in ("emergency", "urgent") else "normal"


def find_similar_cases(
    session: Session,
    *,
    text: str,
    lat: float | None = None,
    lon: float | None = None,
    exclude_id: int | None = None,
    limit: int = SIMILAR_LIMIT,
) -> list[SimilarCase]:
    """Open public cases of the last weeks that say the same thing, near the point if given.

    The candidates are read as plain columns (no case objects, nothing decrypted); only the few
    matches are loaded as cases.
    """
    from portal.cases.queries import public_cases_only
    from portal.permissions import is_public_case

    now = utcnow()
    query = public_cases_only(
        select(Case.id, Case.text_masked, Case.lat, Case.lon, Case.created_at)
        .where(
            Case.status.in_(OPEN_STATUSES),
            Case.created_at >= now - timedelta(days=SIMILAR_WINDOW_DAYS),
        )
        .order_by(Case.created_at.desc())
        .limit(SIMILAR_CANDIDATES)
    )
    if exclude_id is not None:
        query = query.where(Case.id != exclude_id)
    candidates = [
        nlp.SimilarCandidate(
            id=row.id, text=row.text_masked, lat=row.lat, lon=row.lon, created_at=row.created_at
        )
        for row in session.execute(query)
    ]
    if not candidates:
        return []
    matches = nlp.find_similar(text, candidates, lat=lat, lon=lon, now=now, limit=limit)
    if not matches:
        return []
    cases = {
        c.id: c
        for c in session.scalars(
            select(Case)
            .where(Case.id.in_([m.id for m in matches]))
            .options(selectinload(Case.category))
        )
    }
    return [
        SimilarCase(case=cases[m.id], score=float(m.score), distance_m=m.distance_m)
        for m in matches
        if m.id in cases and is_public_case(cases[m.id])
    ]


# --- submit ----------------------------------------------------------------------------------


def submit_case(
    session: Session,
    *,
    text: str,
    channel: str,
    submitter: User | None,
    kind: str | None = None,
    category_code: str | None = None,
    area_code: str | None = None,
    address: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    photos: Sequence[PhotoUpload] = (),
    contact_name: str | None = None,
    contact_phone: str | None = None,
    consent: bool = False,
    anonymous: bool = True,
    model: Any = None,
) -> Case:
    """Take in a resident's report: validate, analyse, route, number, record. Flushes only.

    Everything is validated before anything is written, so a ValidationError leaves no trace.
    A category chosen by the resident is routed as given; otherwise the engine's reading is used
    and a confidence below the jurisdiction's ``triage_confidence_threshold`` (or no matching
    rule) sends the case to the coordinators' triage queue.
    """
    # 1. Validate every input.
    text = _clean_text(text)
    if channel not in CHANNELS:
        raise ValidationError(f"unknown channel {channel!r}", field="channel")
    if kind is not None and kind not in KINDS:
        raise ValidationError(_("Unknown kind of report."), field="kind")
    chosen = get_category(session, category_code) if category_code else None
    address = (address or "").strip() or None
    if address is not None and len(address) > MAX_ADDRESS_CHARS:
        raise ValidationError(
            _("The address is too long (at most %(n)d characters).", n=MAX_ADDRESS_CHARS),
            field="address",
        )
    area = _check_location(session, lat, lon, area_code)
    name, phone = _check_contact(contact_name, contact_phone, consent)
    max_photo_bytes, _upload_dir = upload_settings()
    prepared: list[PreparedPhoto] = prepare_photos(photos, max_bytes=max_photo_bytes)

    # 2. Analyse and route.
    analysis = _analyse(text, model)
    prediction = analysis.prediction
    predicted_group, predicted_category = _predicted_categories(session, prediction)
    settings = get_settings(session, "triage_confidence_threshold", "tracking_prefix")
    threshold = float(settings["triage_confidence_threshold"])
    confidence = float(prediction.confidence)
    routed_by = chosen or predicted_category or predicted_group
    triage_reason: str | None = None
    decision: RoutingDecision | None = None
    if routed_by is not None:
        decision = route_case(
            session, None, category=routed_by, area=area, urgency=prediction.urgency
        )
    if chosen is None and (routed_by is None or confidence < threshold):
        triage_reason = "low_confidence"
    elif decision is None or not decision.matched:
        triage_reason = "no_rule"
    priority = decision.priority if decision else _urgency_priority(prediction.urgency)

    # 3. Write: the case, its first event, tasks, contact, follower, photos.
    masked = mask_known_details(analysis.masked_text, name, phone, address)
    now = utcnow()
    prefix = str(settings["tracking_prefix"])
    case = Case(
        tracking_number=allocate_tracking_number(session, prefix, now),
        kind=kind or (prediction.kind if prediction.kind in KINDS else "complaint"),
        priority=priority,
        channel=channel,
        text_raw=text,
        text_masked=masked,
        title=_title(masked),
        category=routed_by,
        area=area,
        address_text=address,
        lat=float(lat) if lat is not None else None,
        lon=float(lon) if lon is not None else None,
        sla_profile=decision.sla_profile if decision else None,
        submitter=submitter,
        anonymous=anonymous,
        me_too_count=0,
        predicted_category=predicted_category or predicted_group,
        predicted_kind=prediction.kind,
        predicted_urgency=prediction.urgency,
        prediction_confidence=confidence,
        prediction_explanation=[str(e) for e in prediction.explanation],
        model_version=str(prediction.model_version)[:64],
        triage_reason=triage_reason,
        created_at=now,
        updated_at=now,
    )
    if decision is not None and decision.sla_profile is not None:
        emergency = (
            session.scalar(select(SlaProfile).where(SlaProfile.code == EMERGENCY_SLA))
            if priority == "urgent"
            else None
        )
        case.respond_due_at, case.due_at = compute_due_dates(
            case, decision.sla_profile, priority, start=now, emergency_floor=emergency
        )
    assigned = triage_reason is None and decision is not None and decision.department is not None
    if assigned and decision is not None and decision.department is not None:
        case.lead_department = decision.department
    session.add(case)
    if name or phone:
        case.contact = CaseContact(
            name=name,
            phone=phone,
            consent_purpose=CONSENT_PURPOSE,
            consent_notice_version=PRIVACY_NOTICE_VERSION,
            consented_at=now,
        )
    transition(
        session,
        case,
        "submit",
        actor=submitter,
        actor_role="resident" if submitter is not None else "system",
        target=ASSIGNED if assigned else TRIAGE,
        public=True,
        department_id=case.lead_department.id if case.lead_department else None,
        data={
            "channel": channel,
            "triage_reason": triage_reason,
            "confidence": round(confidence, 4),
            "model_version": case.model_version,
            "routing_rule_id": decision.rule.id if decision and decision.rule else None,
        },
    )
    if assigned and decision is not None and decision.department is not None:
        session.add(
            CaseTask(case=case, department_id=decision.department.id, role="lead", created_at=now)
        )
        for co in decision.co_departments:
            session.add(CaseTask(case=case, department_id=co.id, role="co", created_at=now))
    session.flush()  # one flush: the case, its first event, contact and tasks
    if submitter is not None:
        # One plain INSERT instead of a second unit-of-work flush (nothing else is pending).
        session.execute(
            insert(CaseFollower).values(
                case_id=case.id, user_id=submitter.id, reason="submitter", created_at=now
            )
        )
    attach_prepared(session, case=case, photos=prepared, uploaded_by=submitter, public=True)
    return case


# --- me too ----------------------------------------------------------------------------------


def follow_case(session: Session, *, case: Case, user: User) -> Case:
    """ "Me too": count the user once and subscribe them to the case's news.

    Idempotent per user: pressing twice (or on one's own case) changes nothing. Closed cases
    cannot be joined; the resident should report afresh.
    """
    if case.status in (CLOSED, RESOLVED):
        raise ValidationError(
            _("This case is already finished. If the problem is back, please report it again."),
            field=None,
            code="case_finished",
        )
    existing = session.scalar(
        select(CaseFollower).where(CaseFollower.case_id == case.id, CaseFollower.user_id == user.id)
    )
    if existing is not None and existing.reason in ("submitter", "me_too"):
        return case
    if case.submitter_id == user.id:
        return case
    if existing is not None:
        existing.reason = "me_too"
    else:
        try:
            with session.begin_nested():
                session.add(
                    CaseFollower(
                        case_id=case.id, user_id=user.id, reason="me_too", created_at=utcnow()
                    )
                )
        except IntegrityError:  # the same user, a double click racing itself
            return case
    # A plain UPDATE: "me too" must not collide with staff working on the case (version lock).
    session.execute(
        update(Case.__table__)
        .where(Case.__table__.c.id == case.id)
        .values(me_too_count=Case.__table__.c.me_too_count + 1)
    )
    session.refresh(case, ["me_too_count"])
    record_event(
        session,
        case,
        "me_too",
        actor=user,
        actor_role="resident",
        public=True,
        data={"count": case.me_too_count},
    )
    return case


# --- look-up and the public view ----------------------------------------------------------------


def get_case_by_tracking_number(session: Session, tracking_number: str) -> Case:
    """The case with this number (typed loosely: case and spaces don't matter); NotFound else."""
    canonical = normalize_tracking_number(tracking_number)
    case = (
        session.scalar(select(Case).where(Case.tracking_number == canonical))
        if canonical is not None
        else None
    )
    if case is None:
        raise NotFound(_("No case has the tracking number %(n)s.", n=(tracking_number or "")[:30]))
    return case


def status_label(status: str | None) -> str:
    return labels.status_label(status)


def _ref(item: Category | Department | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {"code": item.code, "name": item.name, "name_en": item.name_en}


def public_case_view(case: Case) -> dict[str, Any]:
    """The public face of a case: masked text and public fields only, never personal data.

    Used by the public page, ``/api/v1`` and Open311 alike. Datetimes are timezone-aware UTC.
    """
    from portal.cases.status import PUBLIC_STATUS

    category = case.category
    group = category.group if category is not None else None
    area = case.area
    street = area.street() if area is not None else None
    community = area if area is not None and area.level == "community" else None
    timeline = [
        {
            "type": event.type,
            "at": event.created_at,
            "note": event_note(event),  # in the reader's language when the system wrote it
            "message": message_of(event.data),
            "to_status": event.to_status,
            "status": event.to_status,
            "label": labels.event_label(event.type),
        }
        for event in case.events
        if event.public and event.type != "me_too"
    ]
    replies = [
        note
        for e in case.events
        if e.public and e.type in ("reply", "resolve") and (note := event_note(e))
    ]
    photos = [
        {
            "id": a.id,
            "url": f"/cases/{case.tracking_number}/photos/{a.id}",
            "content_type": a.content_type,
        }
        for a in case.attachments
        if a.public
    ]
    return {
        "tracking_number": case.tracking_number,
        "kind": case.kind,
        "kind_label": labels.kind_label(case.kind),
        "status": case.status,
        "status_label": status_label(case.status),
        "public_status": PUBLIC_STATUS.get(case.status, "open"),
        "priority": case.priority,
        "channel": case.channel,
        "group": _ref(group),
        "category": _ref(category) if category is not None and not category.is_group else None,
        "department": _ref(case.lead_department),
        "area": (
            {
                "code": area.code,
                "name": area.name,
                "street": street.name if street is not None else None,
                "community": community.name if community is not None else None,
            }
            if area is not None and area.level != "district"
            else None
        ),
        "title": case.title,
        "text": case.text_masked,
        "submitter": (
            case.submitter.display_name
            if not case.anonymous and case.submitter is not None
            else None
        ),
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "due_at": case.due_at,
        "overdue": case.is_overdue(),
        "me_too_count": case.me_too_count,
        "timeline": timeline,
        "latest_reply": replies[-1] if replies else None,
        "photos": photos,
    }
