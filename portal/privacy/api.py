"""``/api/v1/me/data`` and ``/api/v1/me/data/erase``: a channel (Telegram) resident's rights of
access and erasure, for the bot.

A blueprint of its own, like the deliberation API: no CSRF (bearer keys, not cookies), the same
key auth, resident header, per-key rate limits and ``{code, message}`` errors as the rest of
``/api/v1`` (``portal.api.auth``); described in the OpenAPI document (``portal.api.openapi``).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded

from portal import get_session
from portal.api import auth
from portal.api.views import _rate_limited, json_body
from portal.errors import PermissionDenied
from portal.extensions import csrf, limiter
from portal.privacy import services

bp = Blueprint("privacy_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
limiter.limit(auth.limit_per_key, key_func=auth.rate_limit_key, scope="api-key")(bp)
limiter.limit(auth.limit_per_address, scope="api-address")(bp)
bp.register_error_handler(RateLimitExceeded, _rate_limited)


@bp.after_request
def _no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    if response.status_code == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="shuzhi"')
    return response


def _json(data: dict[str, Any]) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), mimetype="application/json")


@bp.get("/me/data")
def export_my_data() -> Any:
    """The acting channel resident's data as JSON (``X-Shuzhi-Resident`` with a channel key)."""
    auth.require_scope("channel:telegram")
    resident = auth.acting_resident(required=True)
    session = get_session()
    data = services.export_personal_data(session, user=resident, ip=request.remote_addr)
    session.commit()
    return _json(data)


@bp.post("/me/data/erase")
def erase_my_account() -> Any:
    """Erase a channel resident's account: ``{"confirm": "DELETE"}``. An account with a portal
    password is erased on the portal's "My data" page instead (the password confirms it)."""
    auth.require_scope("channel:telegram")
    resident = auth.acting_resident(required=True)
    confirmation = json_body().get("confirm")
    if resident.password_hash:
        raise PermissionDenied(
            _("This account has a portal password: delete it on the portal's My data page."),
            code="use_portal",
        )
    services.check_erasure_request(
        resident, password=None, confirmation=confirmation if isinstance(confirmation, str) else ""
    )
    session = get_session()
    report = services.erase_account(session, user=resident, ip=request.remote_addr)
    session.commit()
    return _json({"erased": True, **report.__dict__})
