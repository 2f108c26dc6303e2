"""Who is calling the API: the bearer key, its scopes, and the resident a channel key acts for."""

from __future__ import annotations

from urllib.parse import unquote

from flask import current_app, request
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address

from portal.accounts.models import User
from portal.api.models import ApiKey
from portal.api.services import authenticate_api_key, parse_resident, resolve_channel_resident
from portal.errors import DomainError, PermissionDenied, ValidationError

RESIDENT_HEADER = "X-Shuzhi-Resident"
RESIDENT_NAME_HEADER = "X-Shuzhi-Resident-Name"
DEFAULT_LIMIT_PER_KEY = "1200/minute"
DEFAULT_LIMIT_PER_ADDRESS = "1200/minute"
_CACHE = "shuzhi.api_key"
MAX_NAME_HEADER = 240


class Unauthenticated(DomainError):
    """No key, or a key that is unknown or revoked."""

    code = "unauthenticated"
    http_status = 401


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate() -> ApiKey:
    """The calling key (cached for this request); raises Unauthenticated (401)."""
    cached = request.environ.get(_CACHE)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    from portal import get_session

    token = bearer_token()
    if token is None:
        raise Unauthenticated(_("Send your API key as 'Authorization: Bearer <key>'."))
    key = authenticate_api_key(get_session(), token)
    if key is None:
        raise Unauthenticated(_("This API key is unknown or has been revoked."))
    request.environ[_CACHE] = key
    return key


def require_scope(*scopes: str) -> ApiKey:
    """The calling key if it has one of ``scopes`` (a channel key has the case scopes too)."""
    key = authenticate()
    if any(key.has_scope(s) for s in scopes):
        return key
    if key.channels and set(scopes) & {"cases:read", "cases:submit"}:
        return key
    raise PermissionDenied(
        _("This API key lacks the scope %(scope)s.", scope=" or ".join(scopes)),
        code="insufficient_scope",
    )


def acting_resident(*, required: bool) -> User | None:
    """The resident named by ``X-Shuzhi-Resident`` (created on first sight), or None.

    Only a key with the matching ``channel:<name>`` scope may act for a resident.
    """
    from portal import get_session

    key = authenticate()
    value = request.headers.get(RESIDENT_HEADER)
    if not value:
        if required:
            raise PermissionDenied(
                _(
                    "This call acts for a resident: send %(header)s with a channel key.",
                    header=RESIDENT_HEADER,
                ),
                code="resident_required",
            )
        return None
    channel, external_id = parse_resident(value)
    raw_name = request.headers.get(RESIDENT_NAME_HEADER, "")
    if len(raw_name) > MAX_NAME_HEADER:
        raise ValidationError(
            _(
                "%(header)s is longer than %(n)s characters.",
                header=RESIDENT_NAME_HEADER,
                n=MAX_NAME_HEADER,
            ),
            field=RESIDENT_NAME_HEADER,
        )
    if channel not in key.channels:
        raise PermissionDenied(
            _("This API key may not act for %(channel)s residents.", channel=channel),
            code="insufficient_scope",
        )
    locale = request.accept_languages.best_match(["zh", "en"])
    session = get_session()
    user = resolve_channel_resident(
        session,
        channel=channel,
        external_id=external_id,
        display_name=unquote(raw_name, errors="replace"),
        locale="en" if locale == "en" else None,
    )
    session.commit()  # a resident seen once exists from now on, whatever this request does next
    return user


def resident_reference() -> str | None:
    """The raw resident header, part of the idempotency fingerprint."""
    return request.headers.get(RESIDENT_HEADER)


def rate_limit_key() -> str:
    """Per-key bucket: the key's public prefix (unverified; the per-address limit backs it up)."""
    token = bearer_token()
    return f"key:{token[:12]}" if token else f"addr:{get_remote_address()}"


def limit_per_key() -> str:
    return str(current_app.config.get("API_RATE_LIMIT_PER_KEY", DEFAULT_LIMIT_PER_KEY))


def limit_per_address() -> str:
    return str(current_app.config.get("API_RATE_LIMIT_PER_ADDRESS", DEFAULT_LIMIT_PER_ADDRESS))
