"""Two small HTML pages of the API feature: admins manage API keys; a resident gets a link code.

They are registered on the app (not under ``/api/v1``) by :mod:`portal.api.views`; their POST
forms are CSRF-checked explicitly because their endpoints carry the API blueprint's name.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal import get_session, permissions
from portal.api import services as api_services
from portal.errors import DomainError, PermissionDenied
from portal.extensions import csrf

PER_PAGE = 25


def register_pages(app: Flask) -> None:
    app.add_url_rule("/admin/api-keys", "api.api_keys", api_keys, methods=["GET", "POST"])
    app.add_url_rule(
        "/admin/api-keys/<int:key_id>/revoke", "api.revoke_api_key", revoke_key, methods=["POST"]
    )
    app.add_url_rule("/account/link-code", "api.link_code", link_code, methods=["GET", "POST"])


def _check_csrf() -> None:
    """These endpoints are named ``api.*``, which the API blueprint's exemption would cover."""
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()


def _require_admin() -> None:
    if not permissions.can_manage_api_keys(current_user):
        raise PermissionDenied(_("Only administrators manage API keys."))


@login_required
def api_keys() -> Any:
    _require_admin()
    session = get_session()
    new_secret = None
    errors: list[str] = []
    form_name = ""
    form_scopes: list[str] = []
    status = 200
    if request.method == "POST":
        _check_csrf()
        form_name = request.form.get("name", "")
        form_scopes = request.form.getlist("scopes")
        try:
            created = api_services.create_api_key(
                session, name=form_name, scopes=form_scopes, created_by=current_user
            )
        except DomainError as error:
            session.rollback()
            errors.append(error.message)
            status = 422
        else:
            session.commit()
            new_secret = created.secret
            form_name, form_scopes = "", []
    raw_page = request.args.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() and int(raw_page) >= 1 else 1
    keys, total = api_services.list_api_keys(session, page=page, per_page=PER_PAGE)
    return (
        render_template(
            "api/api_keys.html",
            keys=keys,
            page=page,
            pages=max(1, math.ceil(total / PER_PAGE)),
            scopes=api_services.SCOPES,
            new_secret=new_secret,
            errors=errors,
            form_name=form_name,
            form_scopes=form_scopes,
        ),
        status,
    )


@login_required
def revoke_key(key_id: int) -> Any:
    _require_admin()
    _check_csrf()
    session = get_session()
    key = api_services.revoke_api_key(session, key_id=key_id)
    session.commit()
    flash(_("The key %(name)s is revoked.", name=key.name), "success")
    return redirect(url_for("api.api_keys"))


@login_required
def link_code() -> Any:
    """Show a fresh one-time code the resident sends to the bot (``/link CODE``)."""
    if request.method == "GET":
        return render_template("api/link_code.html", code=None, minutes=_ttl_minutes())
    _check_csrf()
    if not current_user.active:
        abort(403)
    session = get_session()
    code = api_services.create_link_code(session, user=current_user)
    session.commit()
    return render_template("api/link_code.html", code=code, minutes=_ttl_minutes())


def _ttl_minutes() -> int:
    return int(api_services.LINK_CODE_TTL.total_seconds() // 60)
