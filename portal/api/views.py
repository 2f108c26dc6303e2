"""``/api/v1``: the JSON front door for the Telegram bot and other apps (OpenAPI at ``openapi.json``).

Views parse and check the request, call a service, commit once, and answer with JSON. Errors are
``{"code", "message"}`` plus ``field`` when known (see ``portal.errors`` and the handlers below).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import time
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from sqlalchemy import select
from werkzeug.exceptions import BadRequest, MethodNotAllowed, UnsupportedMediaType

import nlp
from portal import get_session, permissions
from portal.api import auth
from portal.api import resources as res
from portal.api import services as api_services
from portal.api.openapi import openapi_document
from portal.cases import services as case_services
from portal.errors import DomainError, NotFound, PermissionDenied, ValidationError
from portal.extensions import csrf, limiter
from portal.jurisdiction.models import Category
from portal.workbench.verdicts import record_verdict

bp = Blueprint("api", __name__, url_prefix="/api/v1", template_folder="templates")
csrf.exempt(bp)
limiter.limit(auth.limit_per_key, key_func=auth.rate_limit_key, scope="api-key")(bp)
limiter.limit(auth.limit_per_address, scope="api-address")(bp)

MAX_PHOTOS = 3
MAX_PER_PAGE = 100
#: Notification ids are 32-bit integers on PostgreSQL.
MAX_ID = 2**31 - 1


def _register_html_pages(state: Any) -> None:
    """The key admin page and the resident's link-code page live outside ``/api/v1`` (CSRF on)."""
    from portal.api.pages import register_pages

    register_pages(state.app)


bp.record_once(_register_html_pages)


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> Any:
    """``{code, message}``, plus ``field`` when a ValidationError names the offending input."""
    get_session().rollback()
    return jsonify(error_body(error)), error.http_status


def error_body(error: DomainError) -> dict[str, str]:
    body = {"code": error.code, "message": error.message}
    field = error.details.get("field")
    if field:
        body["field"] = str(field)
    return body


@bp.errorhandler(RateLimitExceeded)
def _rate_limited(error: RateLimitExceeded) -> Any:
    current = limiter.current_limit
    retry_after = 60
    if current is not None:
        retry_after = max(1, math.ceil(current.reset_at - time.time()))
    response = jsonify(
        {
            "code": "rate_limited",
            "message": _("Too many requests; retry after %(s)s seconds.", s=retry_after),
        }
    )
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


@bp.after_app_request
def _allow_header(response: Any) -> Any:
    """405 answers list the allowed methods (RFC 9110); the app's JSON error handler drops them."""
    if response.status_code == 405 and "Allow" not in response.headers:
        routing_error = request.routing_exception
        if isinstance(routing_error, MethodNotAllowed) and routing_error.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(routing_error.valid_methods))
    return response


def body_limit() -> int:
    """Largest accepted request body: three photos in base64 plus the text (413 beyond)."""
    configured = current_app.config.get("MAX_CONTENT_LENGTH")
    if configured:
        return int(configured)
    return MAX_PHOTOS * current_app.config["MAX_PHOTO_BYTES"] * 4 // 3 + 256 * 1024


@bp.before_request
def _limit_body() -> None:
    request.max_content_length = body_limit()


@bp.after_request
def _no_store(response: Any) -> Any:
    response.headers.setdefault("Cache-Control", "no-store")
    if response.status_code == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="shuzhi"')
    return response


# --- request parsing ------------------------------------------------------------------------


def json_body() -> dict[str, Any]:
    """The request's JSON object; 415 for another media type, 400 for malformed JSON."""
    if not request.is_json:
        raise UnsupportedMediaType(_("Send the request body as application/json."))
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest(_("The request body is not valid JSON."))
    if not isinstance(data, dict):
        raise ValidationError(_("The request body must be a JSON object."), field="body")
    return data


def _string(
    body: dict[str, Any], name: str, *, required: bool = False, max_len: int = 200
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ValidationError(_("%(field)s is required.", field=name), field=name)
        return None
    if not isinstance(value, str):
        raise ValidationError(_("%(field)s must be a string.", field=name), field=name)
    if len(value) > max_len:
        raise ValidationError(
            _("%(field)s is longer than %(n)s characters.", field=name, n=max_len), field=name
        )
    return value


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(_("%(field)s must be a number.", field=name), field=name)
    if not low <= value <= high:
        raise ValidationError(
            _("%(field)s must be between %(low)s and %(high)s.", field=name, low=low, high=high),
            field=name,
        )
    return float(value)


def _boolean(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValidationError(_("%(field)s must be true or false.", field=name), field=name)
    return value


def _text(body: dict[str, Any]) -> str:
    text = _string(body, "text", required=True, max_len=nlp.MAX_TEXT_CHARS)
    assert text is not None
    if not text.strip():
        raise ValidationError(_("Describe the problem in a few words."), field="text")
    return text


def _photos(body: dict[str, Any]) -> list[case_services.PhotoUpload]:
    value = body.get("photos")
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError(_("photos must be a list."), field="photos")
    if len(value) > MAX_PHOTOS:
        raise ValidationError(_("Attach at most %(n)s photos.", n=MAX_PHOTOS), field="photos")
    photos = []
    for item in value:
        if not isinstance(item, dict):
            raise ValidationError(_("Each photo must be an object."), field="photos")
        filename = _string(item, "filename", required=True, max_len=200)
        content_type = _string(item, "content_type", required=True, max_len=100)
        encoded = _string(item, "data_base64", required=True, max_len=20 * 1024 * 1024)
        try:
            data = base64.b64decode(encoded or "", validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(
                _("A photo's data_base64 is not valid base64."), field="photos"
            ) from None
        if not data:
            raise ValidationError(_("A photo is empty."), field="photos")
        photos.append(
            case_services.PhotoUpload(
                filename=filename or "", content_type=content_type or "", data=data
            )
        )
    return photos


def _page_args() -> tuple[int, int]:
    def _int(name: str, default: int, high: int) -> int:
        raw = request.args.get(name)
        if raw is None:
            return default
        if not re.fullmatch(r"[0-9]{1,9}", raw) or not 1 <= int(raw) <= high:
            raise ValidationError(
                _("%(field)s must be a whole number from 1 to %(high)s.", field=name, high=high),
                field=name,
            )
        return int(raw)

    return _int("page", 1, 1_000_000), _int("per_page", 20, MAX_PER_PAGE)


# --- endpoints ------------------------------------------------------------------------------


@bp.get("/openapi.json")
@limiter.exempt
def openapi() -> Any:
    """The OpenAPI 3.1 description of this API (public)."""
    return jsonify(openapi_document())


@bp.get("/catalogue")
def catalogue() -> Any:
    auth.require_scope("cases:read", "cases:submit")
    session = get_session()
    groups = session.scalars(
        select(Category)
        .where(Category.parent_id.is_(None), Category.active.is_(True))
        .order_by(Category.code)
    ).all()
    return jsonify(
        {
            "groups": [
                {
                    **res.category_ref(group),
                    "name_en": group.name_en,
                    "categories": [
                        {**res.category_ref(c), "name_en": c.name_en}
                        for c in sorted(group.children, key=lambda c: c.code)
                        if c.active
                    ],
                }
                for group in groups
            ]
        }
    )


@bp.post("/preview")
def preview() -> Any:
    auth.require_scope("cases:submit")
    body = json_body()
    text = _text(body)
    lat = _number(body, "lat", -90, 90)
    lon = _number(body, "lon", -180, 180)
    result = case_services.preview_case(get_session(), text=text, lat=lat, lon=lon)
    return jsonify(res.preview_resource(result))


@bp.post("/cases")
def submit() -> Any:
    """Submit a case, or follow an existing one ("me too"); ``Idempotency-Key`` makes it safe."""
    key = auth.require_scope("cases:submit")
    body = json_body()
    resident = auth.acting_resident(required=False)
    idempotency_key = request.headers.get("Idempotency-Key")
    if idempotency_key is None:
        status, payload = _submit(body, resident)
        get_session().commit()
        return jsonify(payload), status
    database = current_app.extensions["db"]
    claim = api_services.claim_idempotency_key(
        database.session_factory,
        api_key_id=key.id,
        key=idempotency_key,
        fingerprint=api_services.request_fingerprint(
            request.method, request.path, auth.resident_reference(), request.get_data()
        ),
    )
    if claim.record_id is None:
        response = jsonify(claim.replay_body)
        response.status_code = claim.replay_status or 200
        response.headers["Idempotent-Replayed"] = "true"
        return response
    session = get_session()
    try:
        status, payload = _submit(body, resident)
        api_services.complete_idempotency_key(
            session, record_id=claim.record_id, status=status, body=payload
        )
        session.commit()
    except DomainError as error:
        session.rollback()
        if error.http_status in (400, 404, 422):
            api_services.record_idempotent_failure(
                database.session_factory,
                record_id=claim.record_id,
                status=error.http_status,
                body=error_body(error),
            )
        else:
            api_services.release_idempotency_key(
                database.session_factory, record_id=claim.record_id
            )
        raise
    except BaseException:
        session.rollback()
        api_services.release_idempotency_key(database.session_factory, record_id=claim.record_id)
        raise
    return jsonify(payload), status


def _submit(body: dict[str, Any], resident: Any) -> tuple[int, dict[str, Any]]:
    session = get_session()
    follow = _string(body, "follow_tracking_number", max_len=24)
    if follow is not None:
        if resident is None:
            raise ValidationError(
                _("Following a case needs a resident (X-Shuzhi-Resident)."),
                field="follow_tracking_number",
            )
        case = _visible_case(follow.strip(), resident)
        case_services.follow_case(session, case=case, user=resident)
        return 200, res.case_resource(case)
    kind = _string(body, "kind", max_len=12)
    if kind is not None and kind not in res.KINDS:
        raise ValidationError(
            _("kind must be one of %(kinds)s.", kinds=", ".join(res.KINDS)), field="kind"
        )
    case = case_services.submit_case(
        session,
        text=_text(body),
        channel=resident_channel() or "api",
        submitter=resident,
        kind=kind,
        category_code=_string(body, "category_code", max_len=20),
        address=_string(body, "address", max_len=200),
        lat=_number(body, "lat", -90, 90),
        lon=_number(body, "lon", -180, 180),
        photos=_photos(body),
        contact_name=_string(body, "contact_name", max_len=100),
        contact_phone=_string(body, "contact_phone", max_len=40),
        consent=_boolean(body, "consent", False),
        anonymous=_boolean(body, "anonymous", True),
    )
    return 201, res.case_resource(case)


def resident_channel() -> str | None:
    value = auth.resident_reference()
    return value.split(":", 1)[0] if value else None


def _visible_case(tracking_number: str, resident: Any) -> Any:
    """The case if it is public or the resident's own; NotFound (404, never 403) otherwise."""
    case = case_services.get_case_by_tracking_number(get_session(), tracking_number)
    if not permissions.can_view_case(resident, case):
        raise NotFound(_("No case has the tracking number %(n)s.", n=tracking_number[:30]))
    return case


@bp.get("/cases/<tracking_number>")
def case_detail(tracking_number: str) -> Any:
    auth.require_scope("cases:read")
    resident = auth.acting_resident(required=False)
    return jsonify(res.case_resource(_visible_case(tracking_number, resident)))


@bp.post("/cases/<tracking_number>/follow")
def follow(tracking_number: str) -> Any:
    auth.require_scope("cases:read")
    resident = auth.acting_resident(required=True)
    session = get_session()
    case = _visible_case(tracking_number, resident)
    case_services.follow_case(session, case=case, user=resident)
    payload = res.case_resource(case)
    session.commit()
    return jsonify(payload)


@bp.post("/cases/<tracking_number>/verdict")
def verdict(tracking_number: str) -> Any:
    auth.require_scope("cases:submit")
    resident = auth.acting_resident(required=True)
    body = json_body()
    resolved = body.get("resolved")
    if not isinstance(resolved, bool):
        raise ValidationError(_("resolved must be true or false."), field="resolved")
    satisfaction = body.get("satisfaction")
    if (
        isinstance(satisfaction, bool)
        or not isinstance(satisfaction, int)
        or not 1 <= satisfaction <= 5
    ):
        raise ValidationError(
            _("satisfaction must be a whole number from 1 to 5."), field="satisfaction"
        )
    comment = _string(body, "comment", max_len=2000)
    session = get_session()
    case = _visible_case(tracking_number, resident)
    record_verdict(
        session,
        case=case,
        user=resident,
        resolved=resolved,
        satisfaction=satisfaction,
        comment=comment,
        channel=resident_channel() or "api",
    )
    payload = res.case_resource(case)
    session.commit()
    return jsonify(payload)


@bp.get("/me/cases")
def my_cases() -> Any:
    auth.require_scope("cases:read")
    resident = auth.acting_resident(required=True)
    assert resident is not None
    page, per_page = _page_args()
    cases, total = api_services.list_resident_cases(
        get_session(), user=resident, page=page, per_page=per_page
    )
    return jsonify(
        {
            "items": [
                res.case_resource(c) for c in cases if permissions.can_view_case(resident, c)
            ],
            "page": page,
            "per_page": per_page,
            "total": total,
            "pages": math.ceil(total / per_page) if total else 0,
        }
    )


@bp.post("/me/link")
def link_account() -> Any:
    auth.authenticate()
    resident = auth.acting_resident(required=True)
    assert resident is not None
    body = json_body()
    code = _string(body, "code", required=True, max_len=40)
    channel, external_id = api_services.parse_resident(auth.resident_reference() or "")
    session = get_session()
    user = api_services.redeem_link_code(
        session, code=code or "", channel=channel, external_id=external_id
    )
    payload = {"linked": True, "display_name": user.display_name}
    session.commit()
    return jsonify(payload)


def _channel_arg(*, required: bool) -> str:
    """The ``channel`` query argument; optional (the key's only channel) where ``required`` is off."""
    key = auth.authenticate()
    channel = request.args.get("channel")
    if channel is None and not required and len(key.channels) == 1:
        channel = key.channels[0]
    if channel is None or channel not in api_services.CHANNELS:
        raise ValidationError(_("channel must be one of: telegram."), field="channel")
    if channel not in key.channels:
        raise PermissionDenied(
            _("This API key may not read %(channel)s notifications.", channel=channel),
            code="insufficient_scope",
        )
    return channel


@bp.get("/notifications")
def notifications() -> Any:
    channel = _channel_arg(required=True)
    after_raw = request.args.get("after", "0")
    limit_raw = request.args.get("limit", "50")
    if not re.fullmatch(r"[0-9]{1,18}", after_raw):
        raise ValidationError(_("after must be a notification id (a whole number)."), field="after")
    if not re.fullmatch(r"[0-9]{1,4}", limit_raw) or not 1 <= int(limit_raw) <= 500:
        raise ValidationError(_("limit must be a whole number from 1 to 500."), field="limit")
    after = min(int(after_raw), MAX_ID)  # nothing lies beyond the largest possible id
    pending = api_services.pending_notifications(
        get_session(), channel=channel, after=after, limit=int(limit_raw)
    )
    items = [res.notification_resource(p, channel) for p in pending]
    next_cursor = str(pending[-1].notification.id) if pending else str(after)
    return jsonify({"items": items, "next_cursor": next_cursor})


@bp.post("/notifications/ack")
def acknowledge() -> Any:
    channel = _channel_arg(required=False)
    body = json_body()
    ids = body.get("ids")
    if (
        not isinstance(ids, list)
        or len(ids) > 500
        or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ID for i in ids)
    ):
        raise ValidationError(_("ids must be a list of up to 500 notification ids."), field="ids")
    session = get_session()
    acked = api_services.ack_notifications(session, channel=channel, ids=ids)
    session.commit()
    return jsonify({"acked": acked})
