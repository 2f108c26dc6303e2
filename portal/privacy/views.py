"""Privacy pages: the privacy notice, a resident's own data (download, erase) and the audited
reveal of a case's sensitive details for staff with a need to know."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user
from sqlalchemy import select

from portal import get_session
from portal.cases.models import Case
from portal.errors import NotFound, ValidationError
from portal.jurisdiction.services import get_setting
from portal.privacy import services
from portal.privacy.forms import EraseAccountForm, RevealForm
from portal.privacy.retention import DATA_CLASSES

bp = Blueprint("privacy", __name__, template_folder="templates")


def _register_api(state: Any) -> None:
    """The channel residents' rights through ``/api/v1/me/data…`` are a blueprint of their own
    (bearer keys, no CSRF; see :mod:`portal.privacy.api`)."""
    from portal.privacy.api import bp as api_bp

    state.app.register_blueprint(api_bp)


bp.record_once(_register_api)

#: Who to write to about personal data (shown on the notice; set per deployment in settings.json).
NOTICE_CONTACT_SETTING = "PRIVACY_CONTACT"


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.route("/privacy")
def notice() -> Any:
    """The privacy notice (PIPL art. 17): who, what, why, how long, rights, contact."""
    session = get_session()
    days = {name: get_setting(session, key) for name, key in DATA_CLASSES.items()}
    from flask import current_app

    return render_template(
        "privacy/notice.html",
        version=services.PRIVACY_NOTICE_VERSION,
        days=days,
        contact=current_app.config.get(NOTICE_CONTACT_SETTING),
    )


@bp.route("/privacy/my-data")
@login_required
def my_data() -> Any:
    return _no_store(Response(render_template("privacy/my_data.html", form=EraseAccountForm())))


@bp.route("/privacy/my-data/export.json")
@login_required
def export_my_data() -> Any:
    session = get_session()
    data = services.export_personal_data(session, user=current_user, ip=request.remote_addr)
    session.commit()
    response = Response(json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="shuzhi-my-data.json"'
    return _no_store(response)


@bp.route("/privacy/my-data/delete", methods=["POST"])
@login_required
def delete_my_account() -> Any:
    form = EraseAccountForm()
    session = get_session()
    if form.validate_on_submit():
        try:
            services.check_erasure_request(
                current_user, password=form.password.data, confirmation=form.confirmation.data
            )
            services.erase_account(session, user=current_user, ip=request.remote_addr)
        except ValidationError as error:
            session.rollback()
            target = getattr(form, error.field or "", None)
            (target.errors if target is not None else form.form_errors).append(error.message)
        else:
            session.commit()
            logout_user()
            flash(_("Your account and personal data have been deleted."))
            return redirect(url_for("cases.home") if "cases.home" in _endpoints() else "/")
    return _no_store(Response(render_template("privacy/my_data.html", form=form), status=422))


def _endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


@bp.route("/workbench/cases/<tracking_number>/reveal", methods=["GET", "POST"])
@login_required
def reveal(tracking_number: str) -> Any:
    """Show the resident's contact details, raw text and exact place after a stated reason."""
    from portal import permissions

    session = get_session()
    case = session.scalar(select(Case).where(Case.tracking_number == tracking_number))
    if case is None or not permissions.can_reveal_personal_data(current_user, case):
        raise NotFound(_("No such case."))
    form = RevealForm()
    details = None
    if form.validate_on_submit():
        try:
            details = services.reveal_case_details(
                session,
                case=case,
                user=current_user,
                reason=form.reason.data,
                ip=request.remote_addr,
            )
        except ValidationError as error:
            session.rollback()
            form.reason.errors = [*form.reason.errors, error.message]
        else:
            session.commit()
    status = 422 if request.method == "POST" and details is None else 200
    return _no_store(
        Response(
            render_template("privacy/reveal.html", case=case, form=form, details=details),
            status=status,
        )
    )


@bp.get("/privacy/registry")
@login_required
def registry() -> Any:
    """For administrators and the data-protection officer: every column and its level, with the
    protection that follows (the registry in code, rendered)."""
    from portal import permissions
    from portal.privacy.registry import REGISTRY

    if not permissions.can_administer(current_user):
        raise NotFound(_("No such page."))
    tables = sorted(REGISTRY.items())
    return render_template("privacy/registry.html", tables=tables)
