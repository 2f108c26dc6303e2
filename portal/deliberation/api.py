"""``/api/v1/proposals…``, ``/api/v1/me/verification`` and ``/api/v1/me/phone``: deliberation
for the bot and other apps.

Same key auth, scopes, resident header, rate limits and ``{code, message}`` errors as the rest
of ``/api/v1`` (``portal.api.auth``); described in the OpenAPI document by
:mod:`portal.deliberation.openapi`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _

from portal import get_session
from portal.api import auth
from portal.api.services import parse_resident
from portal.api.views import json_body
from portal.deliberation import overview, threads
from portal.deliberation import participation as part
from portal.deliberation import services as svc
from portal.errors import ValidationError
from portal.extensions import csrf, limiter

bp = Blueprint("deliberation_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
limiter.limit(auth.limit_per_key, key_func=auth.rate_limit_key, scope="api-key")(bp)
limiter.limit(auth.limit_per_address, scope="api-address")(bp)


@bp.after_request
def _no_store(response: Any) -> Any:
    response.headers.setdefault("Cache-Control", "no-store")
    if response.status_code == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="shuzhi"')
    return response


# --- parsing ----------------------------------------------------------------------------------


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not low <= int(raw) <= high:
        raise ValidationError(
            _(
                "%(field)s must be a whole number from %(low)s to %(high)s.",
                field=name,
                low=low,
                high=high,
            ),
            field=name,
        )
    return int(raw)


def _not_in_range(name: str, low: float, high: float) -> ValidationError:
    return ValidationError(
        _("%(field)s must be a number from %(low)s to %(high)s.", field=name, low=low, high=high),
        field=name,
    )


def _float_arg(name: str, low: float, high: float) -> float | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high:
        raise _not_in_range(name, low, high)
    return value


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
            _("%(field)s is too long (at most %(n)d characters).", field=name, n=max_len),
            field=name,
        )
    return value


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise _not_in_range(name, low, high)
    return float(value)


def _proposal_resource(proposal: Any, resident: Any) -> dict[str, Any]:
    session = get_session()
    detail = overview.proposal_detail(session, proposal)
    detail["supported"] = svc.has_supported(session, proposal, resident)
    detail["following"] = svc.is_following(session, proposal, resident)
    return detail


# --- endpoints --------------------------------------------------------------------------------


@bp.get("/proposals")
def list_proposals() -> Any:
    auth.require_scope("cases:read")
    page = _int_arg("page", 1, 1, 1_000_000)
    per_page = _int_arg("per_page", 20, 1, 100)
    lat = _float_arg("lat", -90, 90)
    lon = _float_arg("lon", -180, 180)
    radius = _int_arg("radius_m", svc.DEFAULT_RADIUS_M, 1, 100_000)
    sort = request.args.get("sort") or ("nearest" if lat is not None else "newest")
    if sort == "nearest" and lat is None:
        sort = "newest"
    result = svc.list_proposals(
        get_session(),
        status=request.args.get("status", "active"),
        area_code=request.args.get("area") or None,
        lat=lat,
        lon=lon,
        radius_m=radius,
        sort=sort,
        page=page,
        per_page=per_page,
    )
    return jsonify(
        {
            "items": [
                overview.proposal_summary(i.proposal, distance=i.distance_m) for i in result.items
            ],
            "page": result.page,
            "per_page": result.per_page,
            "total": result.total,
            "pages": result.pages,
        }
    )


@bp.post("/proposals")
def create_proposal() -> Any:
    auth.require_scope("cases:submit")
    resident = auth.acting_resident(required=True)
    body = json_body()
    session = get_session()
    proposal = svc.create_proposal(
        session,
        author=resident,
        title=_string(body, "title", required=True, max_len=svc.MAX_TITLE_CHARS) or "",
        body=_string(body, "body", required=True, max_len=svc.MAX_BODY_CHARS) or "",
        category_code=_string(body, "category_code", required=True, max_len=20) or "",
        area_code=_string(body, "area_code", max_len=40),
        lat=_number(body, "lat", -90, 90),
        lon=_number(body, "lon", -180, 180),
    )
    payload = _proposal_resource(proposal, resident)
    session.commit()
    return jsonify(payload), 201


@bp.get("/proposals/<int:proposal_id>")
def get_proposal(proposal_id: int) -> Any:
    auth.require_scope("cases:read")
    resident = auth.acting_resident(required=False)
    proposal = svc.get_proposal(get_session(), proposal_id)
    return jsonify(_proposal_resource(proposal, resident))


def _act_on_proposal(
    proposal_id: int, scope: str, service: Callable[..., object], **params: Any
) -> Any:
    """``service(session, proposal=…, user=the acting resident, **params)``, committed; the answer
    is the proposal as it is now. Checked in this order: the key's scope, the resident, the
    proposal (404), then whatever the service refuses."""
    auth.require_scope(scope)
    resident = auth.acting_resident(required=True)
    session = get_session()
    proposal = svc.get_proposal(session, proposal_id)
    service(session, proposal=proposal, user=resident, **params)
    session.commit()
    return jsonify(_proposal_resource(proposal, resident))


@bp.post("/proposals/<int:proposal_id>/support")
def support(proposal_id: int) -> Any:
    channel = (auth.resident_reference() or "api").split(":", 1)[0]
    return _act_on_proposal(proposal_id, "cases:submit", svc.support_proposal, channel=channel)


@bp.delete("/proposals/<int:proposal_id>/support")
def unsupport(proposal_id: int) -> Any:
    return _act_on_proposal(proposal_id, "cases:submit", svc.withdraw_support)


@bp.post("/proposals/<int:proposal_id>/follow")
def follow(proposal_id: int) -> Any:
    return _act_on_proposal(proposal_id, "cases:read", svc.follow_proposal)


@bp.get("/proposals/<int:proposal_id>/comments")
def comments(proposal_id: int) -> Any:
    auth.require_scope("cases:read")
    resident = auth.acting_resident(required=False)
    session = get_session()
    proposal = svc.get_proposal(session, proposal_id)
    sort = request.args.get("sort", "newest")
    if sort not in threads.SORTS:
        raise ValidationError(_("sort must be newest or liked."), field="sort")
    thread = threads.load_thread(
        session,
        proposal_id=proposal.id,
        viewer=resident,
        sort=sort,
        page=_int_arg("page", 1, 1, 1_000_000),
        per_page=_int_arg("per_page", 20, 1, 100),
    )
    return jsonify(
        {
            "items": [threads.comment_resource(node) for node in thread.nodes],
            "page": thread.page,
            "per_page": thread.per_page,
            "total": thread.total,
            "pages": math.ceil(thread.total / thread.per_page) if thread.total else 0,
        }
    )


@bp.post("/proposals/<int:proposal_id>/comments")
def comment(proposal_id: int) -> Any:
    auth.require_scope("cases:submit")
    resident = auth.acting_resident(required=True)
    body = json_body()
    parent_id = body.get("parent_id")
    if parent_id is not None and (
        isinstance(parent_id, bool) or not isinstance(parent_id, int) or not 0 < parent_id < 2**31
    ):
        raise ValidationError(_("parent_id must be a comment id."), field="parent_id")
    session = get_session()
    proposal = svc.get_proposal(session, proposal_id)
    created = threads.post_comment(
        session,
        author=resident,
        body=_string(body, "body", required=True, max_len=threads.MAX_COMMENT_CHARS) or "",
        stance=_string(body, "stance", max_len=10) or "neutral",
        proposal=proposal,
        parent_id=parent_id,
    )
    node = threads.ThreadNode(
        comment=created, shown=True, placeholder=None, liked=False, editable=True
    )
    payload = {**threads.comment_resource(node), "held_for_review": created.moderation != "visible"}
    session.commit()
    return jsonify(payload), 201


@bp.post("/me/verification")
def verify() -> Any:
    """A resident enters the one-time code from the community office (e.g. in the bot)."""
    auth.authenticate()
    resident = auth.acting_resident(required=True)
    body = json_body()
    code = _string(body, "code", required=True, max_len=40) or ""
    session = get_session()
    part.redeem_verification_code(session, user=resident, code=code)
    payload = {
        "verification_level": resident.verification_level,
        "label": part.level_label(resident.verification_level),
    }
    session.commit()
    return jsonify(payload)


@bp.post("/me/phone")
def confirm_phone() -> Any:
    """The bot passes on a contact card the resident shared: their own number, which Telegram
    verified, confirms the account (level 1). Only a channel key that may act for the resident
    gets here, and only for a channel that vouches for phone numbers."""
    auth.authenticate()
    resident = auth.acting_resident(required=True)
    assert resident is not None
    channel, external_id = parse_resident(auth.resident_reference() or "")
    body = json_body()
    phone = _string(body, "phone_number", required=True, max_len=40) or ""
    owner = body.get("contact_user_id")
    if isinstance(owner, bool) or not isinstance(owner, int) or not 0 < owner < 2**63:
        raise ValidationError(
            _("contact_user_id must be the id of the contact's owner."), field="contact_user_id"
        )
    session = get_session()
    result = part.confirm_phone_from_channel(
        session,
        user=resident,
        channel=channel,
        external_id=external_id,
        contact_user_id=str(owner),
        phone_number=phone,
    )
    payload = {
        "verification_level": resident.verification_level,
        "label": part.level_label(resident.verification_level),
        "phone_confirmed": True,
        "changed": result.changed,
    }
    session.commit()
    return jsonify(payload)
