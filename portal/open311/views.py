"""Open311 GeoReport v2 at ``/open311/v2`` (JSON and XML): discovery, services, requests, tokens.

Mapping: a category is a service (its group → ``group``), a case is a service request (its
tracking number → ``service_request_id``), the lead department → ``agency_responsible``, the due
date → ``expected_datetime``, the latest public reply → ``status_notes``; portal statuses map to
``open``/``closed``. Only public cases and public fields appear; the location is coarsened (see
:mod:`portal.open311.representations`). Extensions: ``service_code`` may be omitted on POST (the
portal classifies the description), and ``page``/``page_size`` on GET requests.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, request
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from sqlalchemy import or_, select
from sqlalchemy.orm import aliased, selectinload
from werkzeug.exceptions import HTTPException

from portal import get_session
from portal.api import auth
from portal.api.services import authenticate_api_key
from portal.cases import services as case_services
from portal.cases.models import Case
from portal.cases.queries import public_cases_only
from portal.cases.status import CLOSED, RESOLVED
from portal.db import utcnow
from portal.errors import DomainError, NotFound, ValidationError
from portal.extensions import csrf, limiter
from portal.jurisdiction.models import Area, Category
from portal.open311 import representations as rep
from portal.permissions import is_public_case

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
csrf.exempt(bp)
limiter.limit(auth.limit_per_address, scope="open311-address")(bp)

FORMAT = "<any(json, xml):fmt>"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_SPAN = timedelta(days=90)
MAX_IDS = 100
MAX_BODY_BYTES = 256 * 1024


class Open311Error(DomainError):
    """An error the spec names: ``[{code, description}]`` with the HTTP status as ``code``."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.http_status = status


def _fmt() -> str:
    fmt = (request.view_args or {}).get("fmt")
    if fmt in ("json", "xml"):
        return str(fmt)
    return "xml" if request.path.endswith(".xml") else "json"


def _errors_response(status: int, description: str) -> Response:
    response = rep.render([{"code": status, "description": description}], _fmt(), root="errors")
    response.status_code = status
    return response


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> Response:
    get_session().rollback()
    status = error.http_status
    if isinstance(error, ValidationError):
        status = 400  # GeoReport reports every invalid parameter as 400
    return _errors_response(status, error.message)


@bp.errorhandler(RateLimitExceeded)
def _rate_limited(error: RateLimitExceeded) -> Response:
    response = _errors_response(429, _("Too many requests; retry later."))
    current = limiter.current_limit
    if current is not None:
        import math
        import time

        response.headers["Retry-After"] = str(max(1, math.ceil(current.reset_at - time.time())))
    else:
        response.headers["Retry-After"] = "60"
    return response


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    response = _errors_response(error.code or 400, error.description or error.name)
    if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


@bp.before_request
def _limit_body() -> None:
    """GeoReport bodies are small forms (``media_url`` is a link, not an upload)."""
    request.max_content_length = MAX_BODY_BYTES


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Access-Control-Allow-Origin", "*")  # public, read-mostly data
    return response


# --- discovery and services -----------------------------------------------------------------


@bp.get(f"/discovery.{FORMAT}")
def discovery(fmt: str) -> Response:
    base = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    body = {
        "changeset": "2026-11-01T00:00:00Z",
        "contact": current_app.config.get("OPEN311_CONTACT", base),
        "key_service": f"{base}/admin/api-keys",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": f"{base}/open311/v2",
                "changeset": "2026-11-01T00:00:00Z",
                "type": "production",
                "formats": ["application/json", "text/xml"],
            }
        ],
    }
    return rep.render(body, fmt, root="discovery")


def _service_categories() -> list[Category]:
    return list(
        get_session().scalars(
            select(Category)
            .where(Category.parent_id.is_not(None), Category.active.is_(True))
            .options(selectinload(Category.parent))
            .order_by(Category.code)
        )
    )


@bp.get(f"/services.{FORMAT}")
def services(fmt: str) -> Response:
    return rep.render([rep.service(c) for c in _service_categories()], fmt, root="services")


@bp.get(f"/services/<service_code>.{FORMAT}")
def service_definition(service_code: str, fmt: str) -> Response:
    category = get_session().scalar(
        select(Category).where(Category.code == service_code, Category.active.is_(True))
    )
    if category is None or category.parent_id is None:
        raise Open311Error(404, _("There is no service with the code %(c)s.", c=service_code[:20]))
    return rep.render(rep.service_definition(category), fmt, root="service_definition")


# --- requests --------------------------------------------------------------------------------


def _parse_datetime(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(
            400, _("%(field)s must be a W3C date-time such as 2026-01-01T00:00:00Z.", field=name)
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _parse_int(name: str, default: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not 1 <= int(raw) <= high:
        raise Open311Error(
            400, _("%(field)s must be a whole number from 1 to %(high)s.", field=name, high=high)
        )
    return int(raw)


def _csv(name: str) -> list[str]:
    return [part.strip() for part in request.args.get(name, "").split(",") if part.strip()]


def _with_relations(stmt: Any) -> Any:
    return stmt.options(
        selectinload(Case.category).selectinload(Category.parent),
        selectinload(Case.lead_department),
        selectinload(Case.area).selectinload(Area.parent),
        selectinload(Case.events),
        selectinload(Case.attachments),
    )


@bp.get(f"/requests.{FORMAT}")
def list_requests(fmt: str) -> Response:
    session = get_session()
    page = _parse_int("page", 1, 1_000_000)
    page_size = _parse_int("page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    stmt = public_cases_only(select(Case))
    ids = _csv("service_request_id")
    if ids:
        if len(ids) > MAX_IDS:
            raise Open311Error(
                400, _("Ask for at most %(n)s service_request_id values.", n=MAX_IDS)
            )
        stmt = stmt.where(Case.tracking_number.in_([i.upper() for i in ids]))
    else:
        stmt = _filter_requests(stmt)
    stmt = stmt.order_by(Case.created_at.desc(), Case.id.desc())
    cases = session.scalars(
        _with_relations(stmt).limit(page_size).offset((page - 1) * page_size)
    ).all()
    return rep.render([rep.service_request(c) for c in cases], fmt, root="service_requests")


def _filter_requests(stmt: Any) -> Any:
    codes = _csv("service_code")
    if codes:
        parent = aliased(Category)
        matching = (
            select(Category.id)
            .outerjoin(parent, Category.parent_id == parent.id)
            .where(or_(Category.code.in_(codes), parent.code.in_(codes)))
        )
        stmt = stmt.where(Case.category_id.in_(matching))
    statuses = _csv("status")
    unknown = sorted(set(statuses) - {"open", "closed"})
    if unknown:
        raise Open311Error(400, _("status must be open or closed (comma-separated)."))
    if len(set(statuses)) == 1:
        closed = Case.status.in_((RESOLVED, CLOSED))
        stmt = stmt.where(closed if statuses[0] == "closed" else ~closed)
    start, end = _parse_datetime("start_date"), _parse_datetime("end_date")
    if start is None:
        start = (end or utcnow()) - MAX_SPAN
    if end is None:
        end = start + MAX_SPAN
    if end < start:
        raise Open311Error(400, _("end_date is before start_date."))
    if end - start > MAX_SPAN:
        raise Open311Error(400, _("start_date and end_date may not span more than 90 days."))
    return stmt.where(Case.created_at >= start, Case.created_at <= end)


@bp.get(f"/requests/<service_request_id>.{FORMAT}")
def get_request(service_request_id: str, fmt: str) -> Response:
    session = get_session()
    try:
        case = case_services.get_case_by_tracking_number(session, service_request_id)
    except NotFound:
        case = None
    if case is None or not is_public_case(case):
        raise Open311Error(
            404, _("There is no service request %(id)s.", id=service_request_id[:30])
        )
    return rep.render([rep.service_request(case)], fmt, root="service_requests")


@bp.get(f"/tokens/<token_id>.{FORMAT}")
def token(token_id: str, fmt: str) -> Response:
    """Requests are created in real time: POST returns the service_request_id, never a token."""
    raise Open311Error(
        404,
        _("Service requests are created in real time here; there are no tokens to look up."),
    )


@bp.post(f"/requests.{FORMAT}")
@limiter.limit(
    auth.limit_per_key, key_func=lambda: "o311:" + (request.values.get("api_key") or "")[:12]
)
def create_request(fmt: str) -> Response:
    session = get_session()
    form = request.form
    secret = form.get("api_key") or request.args.get("api_key") or ""
    key = authenticate_api_key(session, secret) if secret else None
    if key is None or not key.has_scope("cases:submit"):
        raise Open311Error(403, _("A valid api_key with the cases:submit scope is required."))
    description = (form.get("description") or "").strip()
    if not description:
        raise Open311Error(400, _("description is required."))
    lat, lon = _coordinates(form)
    address = (form.get("address_string") or "").strip() or None
    address_id = (form.get("address_id") or "").strip() or None
    if lat is None and address is None and address_id is None:
        raise Open311Error(
            400, _("A location is required: lat and long, address_string or address_id.")
        )
    if address is None and address_id is not None:
        address = address_id
    service_code = (form.get("service_code") or "").strip() or None
    if service_code is not None:
        category = session.scalar(select(Category).where(Category.code == service_code))
        if category is None or category.parent_id is None or not category.active:
            raise Open311Error(
                400, _("service_code %(c)s is not a service here.", c=service_code[:20])
            )
    name = " ".join(
        p
        for p in ((form.get("first_name") or "").strip(), (form.get("last_name") or "").strip())
        if p
    )
    phone = (form.get("phone") or "").strip() or None
    case = case_services.submit_case(
        session,
        text=description,
        channel="open311",
        submitter=None,
        category_code=service_code,
        address=address[:200] if address else None,
        lat=lat,
        lon=lon,
        contact_name=name[:60] or None,
        contact_phone=phone,
        # The 311 app collected the contact details from its user to report this problem.
        consent=bool(name or phone),
        anonymous=True,
    )
    body = [
        {
            "service_request_id": case.tracking_number,
            "service_notice": rep.service_notice(case),
            "account_id": None,
        }
    ]
    session.commit()
    response = rep.render(body, fmt, root="service_requests")
    response.status_code = 201
    return response


def _coordinates(form: Any) -> tuple[float | None, float | None]:
    raw_lat, raw_lon = form.get("lat"), form.get("long")
    if not raw_lat and not raw_lon:
        return None, None
    try:
        lat, lon = float(raw_lat or ""), float(raw_lon or "")
    except ValueError:
        raise Open311Error(400, _("lat and long must be decimal degrees (WGS84).")) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Open311Error(400, _("lat and long are out of range."))
    return lat, lon


@bp.route("/<path:_unknown>", methods=["GET", "POST"])
def unknown(_unknown: str) -> Response:
    raise Open311Error(404, _("There is no such Open311 resource (add .json or .xml)."))
