"""Public case pages and resident intake: home, the two-step form, the list, a case, my cases."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import format_date, format_datetime, get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from portal import get_session
from portal.cases import labels, queries
from portal.cases.forms import IntakeForm
from portal.cases.models import Attachment, Case
from portal.cases.photos import PhotoUpload
from portal.cases.services import (
    follow_case,
    get_case_by_tracking_number,
    preview_case,
    public_case_view,
    submit_case,
)
from portal.cases.status import STATUSES
from portal.errors import DomainError, NotFound, ValidationError
from portal.jurisdiction.services import get_setting
from portal.permissions import can_follow_case, can_view_case

bp = Blueprint(
    "cases",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/cases",
)

#: The intake form may carry 3 photos that are each too big; they are refused with a message on
#: the form (text kept) rather than a bare 413, up to this many bytes per request.
INTAKE_MAX_BODY_BYTES = 100 * 1024 * 1024

#: Service error fields → the form field the message is shown under.
FIELD_FOR_SERVICE_FIELD = {
    "text": "text",
    "kind": "kind",
    "category_code": "category",
    "category": "category",
    "address": "address",
    "area_code": "address",
    "location": "lat",
    "lat": "lat",
    "lon": "lon",
    "photos": "photos",
    "photo": "photos",
    "contact_name": "contact_name",
    "contact_phone": "contact_phone",
    "phone": "contact_phone",
    "consent": "consent",
}


@bp.url_value_preprocessor
def _intake_body_limit(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Raise the body limit for the intake form before CSRF checking parses the body.

    URL value preprocessors run before every ``before_request`` function, so a too-large photo is
    read (spooled to disk by Werkzeug) and refused by the service with a message on the form.
    """
    if endpoint == "cases.new_case" and request.method == "POST":
        request.max_content_length = max(
            INTAKE_MAX_BODY_BYTES, current_app.config.get("MAX_CONTENT_LENGTH") or 0
        )


@bp.app_template_global()
def localized_name(item: Any) -> str:
    """The English name on English pages when there is one, else the (Chinese) name."""
    if item is None:
        return ""
    if isinstance(item, dict):
        name, name_en = item.get("name"), item.get("name_en")
    else:
        name, name_en = getattr(item, "name", ""), getattr(item, "name_en", None)
    if str(get_locale()) == "en" and name_en:
        return str(name_en)
    return str(name or "")


@bp.app_template_filter("when")
def when(value: datetime | str | None, style: str = "medium") -> str:
    """A timestamp (or an ISO string from a case view) in the page's language and time zone."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if style == "date":
        return format_date(value, "medium")
    return format_datetime(value, "short" if style == "short" else "medium")


@bp.app_context_processor
def _case_labels() -> dict[str, Any]:
    return {
        "get_locale": get_locale,  # base.html's <html lang> and language switch
        "status_label": labels.status_label,
        "event_label": labels.event_label,
        "kind_label": labels.kind_label,
        "priority_label": labels.priority_label,
    }


def _page_args() -> tuple[int, int]:
    return queries.clamp_page(
        request.args.get("page", type=int), request.args.get("per_page", type=int)
    )


def _find_case(tracking_number: str) -> Case:
    """The case if the current user may see it; NotFound (404, never 403) otherwise."""
    case = get_case_by_tracking_number(get_session(), tracking_number)
    if not can_view_case(current_user, case):
        raise NotFound(_("No case has the tracking number %(n)s.", n=tracking_number[:30]))
    return case


@bp.route("/")
def home() -> Any:
    db = get_session()
    return render_template(
        "cases/home.html",
        counts=queries.case_counts(db),
        recent=queries.recent_cases(db, limit=8),
    )


def _category_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """``[(group label, [(code, label), ...]), ...]``: the group itself first ("general")."""
    english = str(get_locale()) == "en"

    def label(entry: queries.CatalogueEntry) -> str:
        return entry.name_en if english and entry.name_en else entry.name

    grouped = []
    for entry in queries.catalogue_options(get_session()):
        group_name = label(entry.group)
        options = [(entry.group.code, _("%(group)s (general)", group=group_name))]
        options += [(child.code, label(child)) for child in entry.categories]
        grouped.append((group_name, options))
    return grouped


def _photo_uploads(files: list[FileStorage]) -> list[PhotoUpload]:
    """Read the uploaded photos; a file over the size limit is refused before it is read into
    memory (Werkzeug has spooled it to disk), with the same message the service uses."""
    max_bytes = int(current_app.config["MAX_PHOTO_BYTES"])
    uploads = []
    for storage in files:
        if not storage or not storage.filename:
            continue
        stream = storage.stream
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        stream.seek(0)
        if size > max_bytes:
            raise ValidationError(
                _(
                    "The photo %(name)s is too large (%(size)s MB); the limit is %(limit)s MB.",
                    name=storage.filename,
                    size=f"{size / 1048576:.1f}",
                    limit=f"{max_bytes / 1048576:.0f}",
                ),
                field="photos",
            )
        uploads.append(
            PhotoUpload(
                filename=storage.filename,
                content_type=storage.mimetype or "application/octet-stream",
                data=stream.read(),
            )
        )
    return uploads


def _show_service_error(form: IntakeForm, error: DomainError) -> None:
    field_name = FIELD_FOR_SERVICE_FIELD.get(str(error.details.get("field") or ""))
    field = getattr(form, field_name, None) if field_name else None
    if field is not None:
        field.errors = [*list(field.errors), error.message]
    else:
        form.form_errors.append(error.message)


@bp.route("/cases/new", methods=["GET", "POST"])
def new_case() -> Any:
    if not current_user.is_authenticated:
        return render_template(
            "cases/sign_in_to_report.html"
        ), 200 if request.method == "GET" else 401
    form = IntakeForm()
    if request.method == "GET":
        return render_template(
            "cases/new.html", form=form, preview=None, category_groups=_category_choices()
        )
    preview = None
    needs_triage = False
    status = 422
    if form.validate_on_submit():
        db = get_session()
        lat, lon = form.coordinates()
        try:
            if form.step.data == "submit":
                photos = _photo_uploads(form.photos.data or [])
                case = submit_case(
                    db,
                    text=form.text.data or "",
                    channel="web",
                    submitter=current_user._get_current_object(),
                    kind=form.kind.data or None,
                    category_code=form.category.data or None,
                    address=(form.address.data or "").strip() or None,
                    lat=lat,
                    lon=lon,
                    photos=photos,
                    contact_name=(form.contact_name.data or "").strip() or None,
                    contact_phone=(form.contact_phone.data or "").strip() or None,
                    consent=bool(form.consent.data),
                    anonymous=not form.show_name.data,
                )
                db.commit()
                return redirect(url_for("cases.submitted", tracking_number=case.tracking_number))
            preview = preview_case(db, text=form.text.data or "", lat=lat, lon=lon)
            threshold = float(get_setting(db, "triage_confidence_threshold"))
            needs_triage = preview.group is None or (
                not form.category.data and preview.analysis.prediction.confidence < threshold
            )
            db.rollback()  # a preview writes nothing
            status = 200
        except ValidationError as error:
            db.rollback()
            _show_service_error(form, error)
    form.step.data = "submit" if preview is not None or form.step.data == "submit" else "check"
    return (
        render_template(
            "cases/new.html",
            form=form,
            preview=preview,
            needs_triage=needs_triage,
            category_groups=_category_choices(),
        ),
        status,
    )


@bp.errorhandler(413)
def _too_large(error: Any) -> Any:
    """The whole request was too big to read (even with the intake limit): a friendly page."""
    limit_mb = int(current_app.config["MAX_PHOTO_BYTES"]) // (1024 * 1024)
    message = _(
        "The upload is too large. Please attach at most 3 photos of up to %(mb)d MB each.",
        mb=limit_mb,
    )
    return render_template("error.html", code=413, message=message), 413


@bp.route("/cases/<tracking_number>/submitted")
@login_required
def submitted(tracking_number: str) -> Any:
    case = _find_case(tracking_number)
    if case.submitter_id != current_user.id:
        return redirect(url_for("cases.case_detail", tracking_number=case.tracking_number))
    return render_template("cases/submitted.html", case=case, view=public_case_view(case))


@bp.route("/cases")
def case_list() -> Any:
    db = get_session()
    filters = queries.CaseFilters(
        q=(request.args.get("q") or "").strip()[:100],
        group=request.args.get("group") or "",
        category=request.args.get("category") or "",
        status=request.args.get("status") if request.args.get("status") in STATUSES else "",
        department=request.args.get("department") or "",
        street=request.args.get("street") or "",
        overdue=request.args.get("overdue") in ("1", "y", "on", "true"),
    )
    page, per_page = _page_args()
    result = queries.search_cases(db, filters, page=page, per_page=per_page)
    return render_template(
        "cases/list.html",
        result=result,
        filters=filters,
        groups=queries.catalogue_groups(db),
        departments=queries.departments(db),
        streets=queries.streets(db),
        statuses=STATUSES,
        page_args={k: v for k, v in request.args.items() if k != "page"},
    )


@bp.route("/cases/<tracking_number>")
def case_detail(tracking_number: str) -> Any:
    db = get_session()
    case = _find_case(tracking_number)
    following = current_user.is_authenticated and (
        case.submitter_id == current_user.id or queries.is_following(db, case, current_user)
    )
    return render_template(
        "cases/detail.html", case=case, view=public_case_view(case), following=following
    )


@bp.route("/cases/<tracking_number>/follow", methods=["POST"])
@login_required
def follow(tracking_number: str) -> Any:
    db = get_session()
    case = _find_case(tracking_number)
    if not can_follow_case(current_user, case):
        raise NotFound(_("No case has the tracking number %(n)s.", n=tracking_number[:30]))
    already = case.submitter_id == current_user.id or queries.is_following(db, case, current_user)
    try:
        follow_case(db, case=case, user=current_user._get_current_object())
    except ValidationError as error:
        db.rollback()
        flash(error.message, "error")
        return redirect(url_for("cases.case_detail", tracking_number=case.tracking_number))
    db.commit()
    if already:
        flash(_("You already follow this case."), "success")
    else:
        flash(
            _(
                "Thank you: the case now counts your report too, and you will be told about every step."
            ),
            "success",
        )
    return redirect(url_for("cases.case_detail", tracking_number=case.tracking_number))


@bp.route("/cases/<tracking_number>/photos/<int:attachment_id>")
def photo(tracking_number: str, attachment_id: int) -> Any:
    case = _find_case(tracking_number)
    attachment = get_session().scalar(
        select(Attachment).where(Attachment.id == attachment_id, Attachment.case_id == case.id)
    )
    if attachment is None or not attachment.public:
        abort(404)
    response = send_from_directory(
        current_app.config["UPLOAD_DIR"], attachment.storage_name, mimetype=attachment.content_type
    )
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.route("/my/cases")
@login_required
def my_cases() -> Any:
    page, per_page = _page_args()
    result = queries.cases_of_resident(
        get_session(), current_user._get_current_object(), page=page, per_page=per_page
    )
    return render_template("cases/mine.html", result=result)
