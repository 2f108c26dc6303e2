"""The audit log's pages under ``/admin/audit`` (administrators only, 404 for everyone else):
search, CSV/JSON download (itself audited) and the hash-chain check. There is no page that
changes an entry."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from portal import get_session, permissions
from portal.audit.forms import AuditSearchForm
from portal.audit.services import (
    EXPORT_FORMATS,
    AuditFilters,
    count_audit,
    export_audit,
    known_actions,
    record_audit,
    search_audit,
    verify_chain,
)
from portal.cases.queries import clamp_page

bp = Blueprint("audit", __name__, url_prefix="/admin/audit", template_folder="templates")

PER_PAGE = 50
FILTER_ARGS = ("actor", "action", "since", "until")


@bp.before_request
def _administrators_only() -> None:
    if not permissions.can_read_audit_log(current_user):
        abort(404)


@bp.context_processor
def _audit_helpers() -> dict[str, Any]:
    def audit_json(value: Any) -> str:
        """Before/after values as compact JSON, Chinese kept readable (autoescaped by Jinja)."""
        if value is None:
            return ""
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))

    return {"audit_json": audit_json}


def _filters(form: AuditSearchForm) -> AuditFilters:
    """Dates are days in the portal's time zone; "to" includes its whole day."""
    zone = get_timezone()

    def start_of(day: date | None) -> datetime | None:
        if day is None:
            return None
        return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)

    return AuditFilters(
        actor=(form.actor.data or "").strip() or None,
        action=form.action.data or None,
        since=start_of(form.since.data),
        until=start_of(form.until.data + timedelta(days=1)) if form.until.data else None,
    )


def _search_form() -> AuditSearchForm:
    form = AuditSearchForm(request.args)
    form.action.choices = [SelectChoice("", _("All actions"))] + [
        SelectChoice(a, a) for a in known_actions(get_session())
    ]
    return form


@bp.route("")
def audit_log() -> Any:
    form = _search_form()
    valid = form.validate()
    filters = _filters(form) if valid else AuditFilters()
    page, per_page = clamp_page(request.args.get("page", type=int), PER_PAGE)
    result = search_audit(get_session(), filters, page=page, per_page=per_page)
    args = {k: v for k, v in request.args.items() if k in FILTER_ARGS and v}
    page_html = render_template("audit/log.html", form=form, result=result, args=args)
    return page_html, 200 if valid else 422


@bp.route("/export")
def audit_export() -> Any:
    """Download the filtered log as CSV or JSON; the download is itself audited (``export``)."""
    form = _search_form()
    if not form.validate():
        abort(422)
    fmt = request.args.get("format", "csv")
    if fmt not in EXPORT_FORMATS:
        abort(404)
    filters = _filters(form)
    session = get_session()
    rows = count_audit(session, filters)
    content = export_audit(session, filters, fmt=fmt)
    record_audit(
        session,
        actor=current_user._get_current_object(),
        action="export",
        target_type="audit_log",
        after={"format": fmt, "filters": filters.as_dict(), "rows": rows},
        ip=request.remote_addr,
    )
    session.commit()  # on record before the file leaves
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    mimetype = "text/csv" if fmt == "csv" else "application/json"
    return Response(
        ("\ufeff" + content) if fmt == "csv" else content,  # BOM: Excel opens UTF-8 CSV correctly
        mimetype=f"{mimetype}; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="shuzhi-audit-{stamp}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/verify")
def audit_verify() -> Any:
    result = verify_chain(get_session())
    return render_template("audit/verify.html", result=result), 200 if result.ok else 409
