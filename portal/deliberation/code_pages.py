"""``/admin/verification-codes``: administrators issue a batch of one-time verification codes for
a community office, print them once, follow how many were redeemed or expired, and revoke the
unused ones. Like every ``/admin`` page it is a 404 for everyone else; forms carry a CSRF token;
every change is audited.

The codes are stored only as hashes: their plaintext exists in the one response that issues
them (``no-store``) and nowhere else, so the printable page cannot be shown twice.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from portal import get_session, permissions
from portal.accounts.models import User
from portal.deliberation import code_batches
from portal.deliberation import participation as part
from portal.deliberation.forms import CodeBatchForm, RevokeCodeForm
from portal.errors import Conflict, DomainError
from portal.jurisdiction.models import Area

bp = Blueprint("verification_codes", __name__, url_prefix="/admin/verification-codes")

PER_PAGE = 25


@bp.before_request
def _administrators_only() -> None:
    if not permissions.can_issue_verification_codes(current_user):
        abort(404)


@bp.after_request
def _no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    return response


def _actor() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _issue_form(*, fresh: bool = False) -> CodeBatchForm:
    """The issuing form; ``fresh`` (or on a GET) blank, with a new one-time request token."""
    fresh = fresh or request.method == "GET"
    form = CodeBatchForm(formdata=None) if fresh else CodeBatchForm()
    areas = get_session().scalars(select(Area).order_by(Area.code)).all()
    form.area_code.choices = [SelectChoice("", _("Whole jurisdiction"))] + [
        SelectChoice(a.code, f"{a.name} ({a.code})") for a in areas
    ]
    form.level.choices = [
        SelectChoice(level, part.level_label(level)) for level in part.CODE_LEVELS
    ]
    if fresh:
        form.level.data = part.RESIDENT_VERIFIED
        form.request_token.data = secrets.token_urlsafe(24)
    return form


def _list_page(form: CodeBatchForm, revoke_form: RevokeCodeForm, status: int = 200) -> Any:
    result = code_batches.list_code_batches(
        get_session(), page=request.args.get("page", type=int), per_page=PER_PAGE
    )
    return (
        render_template(
            "deliberation/code_batches.html",
            form=form,
            revoke_form=revoke_form,
            result=result,
            level_label=part.level_label,
        ),
        status,
    )


@bp.route("/", methods=["GET", "POST"])
def batches() -> Any:
    form = _issue_form()
    if request.method == "POST" and form.validate_on_submit():
        session = get_session()
        try:
            issued = code_batches.issue_batch(
                session,
                actor=_actor(),
                area_code=form.area_code.data or None,
                count=int(form.count.data or 0),
                level=int(form.level.data or 0),
                valid_days=int(form.valid_days.data or 0),
                issued_by=form.issued_by.data or "",
                request_token=form.request_token.data or None,
                ip=request.remote_addr,
            )
        except Conflict as error:  # the form was sent twice: the codes are not shown again
            session.rollback()
            flash(error.message, "error")
            return redirect(url_for("verification_codes.batches"))
        except DomainError as error:
            session.rollback()
            field = getattr(form, str(error.details.get("field") or ""), None)
            if field is not None:
                field.errors = [*list(field.errors), error.message]
            else:
                flash(error.message, "error")
        else:
            session.commit()
            summary = code_batches.get_code_batch(session, issued.batch.id)
            return render_template(
                "deliberation/code_batch_print.html",
                batch=summary.batch,
                codes=[c.code for c in issued.codes],
                level_label=part.level_label,
            )
    if request.method == "POST":
        # A rejected form keeps its token, so correcting it and sending again issues once.
        return _list_page(form, RevokeCodeForm(formdata=None), status=422)
    return _list_page(form, RevokeCodeForm(formdata=None))


@bp.route("/<int:batch_id>/revoke", methods=["POST"])
def revoke_batch(batch_id: int) -> Any:
    """Revoke the batch's unused codes (the app-wide CSRFProtect checks the form's token)."""
    session = get_session()
    try:
        summary = code_batches.get_code_batch(session, batch_id)
    except DomainError:
        abort(404)
    revoked = code_batches.revoke_unused_codes(
        session, batch=summary.batch, actor=_actor(), ip=request.remote_addr
    )
    session.commit()
    flash(_("%(n)d unused code(s) of batch %(id)d revoked.", n=revoked, id=batch_id), "success")
    return redirect(url_for("verification_codes.batches"))


@bp.route("/revoke-code", methods=["POST"])
def revoke_one() -> Any:
    revoke_form = RevokeCodeForm()
    if revoke_form.validate_on_submit():
        session = get_session()
        try:
            batch_id = code_batches.revoke_code(
                session,
                code=revoke_form.code.data or "",
                actor=_actor(),
                ip=request.remote_addr,
            )
        except DomainError as error:
            session.rollback()
            revoke_form.code.errors = [*list(revoke_form.code.errors), error.message]
        else:
            session.commit()
            flash(
                _("The code is revoked (batch %(id)s).", id=batch_id if batch_id else "—"),
                "success",
            )
            return redirect(url_for("verification_codes.batches"))
    return _list_page(_issue_form(fresh=True), revoke_form, status=422)
