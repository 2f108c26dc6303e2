"""``/workbench/hotspots``: coordinators' early-warning alerts (预警) and acting on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal import get_session, permissions
from portal.errors import NotFound, PermissionDenied, ValidationError
from portal.hotspots import services
from portal.hotspots.models import STATUSES

bp = Blueprint("hotspots", __name__, template_folder="templates")


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str


def nav_items() -> list[NavItem]:
    """预警 for coordinators."""
    if not permissions.can_see_hotspots(current_user):
        return []
    return [NavItem(_("Alerts"), url_for("hotspots.alerts"))]


def _user() -> Any:
    return current_user._get_current_object()


def _page() -> tuple[int, int]:
    try:
        return int(request.args.get("page", 1)), int(request.args.get("per_page", 20))
    except ValueError:
        raise ValidationError(_("page must be a whole number"), field="page") from None


def _status_label(status: str) -> str:
    return {
        "new": _("New"),
        "acknowledged": _("Acknowledged"),
        "actioned": _("Actioned"),
        "dismissed": _("Dismissed"),
    }.get(status, status)


def _kind_label(kind: str) -> str:
    return {"surge": _("Surge"), "cluster": _("Cluster")}.get(kind, kind)


@bp.get("/workbench/hotspots")
@login_required
def alerts() -> Any:
    status = request.args.get("status", "open")
    page, per_page = _page()
    result = services.list_alerts(
        get_session(), user=_user(), status=status or None, page=page, per_page=per_page
    )
    return render_template(
        "hotspots/alerts.html",
        result=result,
        status=status,
        statuses=("open", *STATUSES, ""),
        alert_status_label=_status_label,
        kind_label=_kind_label,
        summary=services.alert_summary,
    )


@bp.get("/workbench/hotspots/<int:alert_id>")
@login_required
def alert_page(alert_id: int) -> Any:
    session = get_session()
    alert = services.get_alert(session, alert_id, user=_user())
    return render_template(
        "hotspots/alert.html",
        alert=alert,
        cases=services.alert_cases(session, alert),
        alert_status_label=_status_label,
        kind_label=_kind_label,
        summary=services.alert_summary(alert),
        can_propose=_deliberation_available(),
    )


def _deliberation_available() -> bool:
    from flask import current_app

    return "deliberation" in current_app.blueprints


@bp.post("/workbench/hotspots/<int:alert_id>/<action>")
@login_required
def act(alert_id: int, action: str) -> Any:
    session = get_session()
    user = _user()
    alert = services.get_alert(session, alert_id, user=user)
    note = request.form.get("note")
    try:
        return _act(session, alert, user, action, note)
    except (ValidationError, PermissionDenied) as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("hotspots.alert_page", alert_id=alert_id))


def _act(session: Any, alert: Any, user: Any, action: str, note: str | None) -> Any:
    if action in ("acknowledge", "dismiss", "reopen"):
        status = {"acknowledge": "acknowledged", "dismiss": "dismissed", "reopen": "new"}[action]
        services.set_alert_status(session, alert=alert, user=user, status=status, note=note)
        session.commit()
        flash(_("Alert updated."), "success")
        return redirect(url_for("hotspots.alert_page", alert_id=alert.id))
    if action == "task":
        case = services.open_task(session, alert=alert, user=user, note=note)
        session.commit()
        flash(_("Proactive task %(number)s opened.", number=case.tracking_number), "success")
        return redirect(url_for("workbench.case_page", tracking_number=case.tracking_number))
    if action == "proposal" and _deliberation_available():
        proposal = services.open_proposal(session, alert=alert, user=user, note=note)
        session.commit()
        flash(_("Deliberation thread opened."), "success")
        return redirect(url_for("deliberation.proposal_detail", proposal_id=proposal.id))
    raise NotFound(_("No such action."))
