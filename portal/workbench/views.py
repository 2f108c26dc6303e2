"""Workbench pages: the department queue, the staff case page and its actions, the triage queue,
transfer approvals, a head's figures, and the resident's verdict form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from wtforms.fields.choices import SelectChoice

from portal import get_session, permissions
from portal.cases import queries
from portal.cases.models import Case, CaseEvent
from portal.cases.photos import PhotoUpload
from portal.cases.status import ACCEPTED, ASSIGNED, RESOLVED, STATUSES, TRIAGE
from portal.db import utcnow
from portal.deliberation import answers
from portal.deliberation.forms import AnswerForm
from portal.deliberation.lifecycle import proposal_awaiting_answer
from portal.deliberation.models import Proposal
from portal.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationError
from portal.jurisdiction.models import Department
from portal.workbench import queues, services, triage, verdicts
from portal.workbench.forms import (
    CLOSE_REASON_CHOICES,
    AcceptForm,
    CloseInvalidForm,
    CoDoneForm,
    CoHandlingForm,
    ContactForm,
    DispatchForm,
    PhotoForm,
    ReplyForm,
    ResolveForm,
    ReturnForm,
    TransferDecisionForm,
    TransferForm,
    VerdictForm,
)
from portal.workbench.handling import case_for_staff, require_no_pending_answer
from portal.workbench.models import TransferRequest

bp = Blueprint(
    "workbench",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/workbench",
)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str


def nav_items() -> list[NavItem]:
    """工作台 for department staff, 分拨 (and transfer approvals) for the dispatch centre."""
    items: list[NavItem] = []
    if permissions.can_use_workbench(current_user):
        items.append(NavItem(_("Workbench"), url_for("workbench.queue")))
        if permissions.is_head(current_user):
            items.append(NavItem(_("Figures"), url_for("workbench.figures")))
    if permissions.can_triage(current_user):
        items.append(NavItem(_("Dispatch"), url_for("workbench.triage_queue")))
        items.append(NavItem(_("Transfers"), url_for("workbench.transfers")))
        items.append(NavItem(_("Figures"), url_for("workbench.figures")))
    return items


@bp.app_template_global()
def close_reason_label(code: str) -> str:
    """The words for a stored close-reason code, in the reader's language (unknown codes as
    stored)."""
    labels = {choice.value: choice.label for choice in CLOSE_REASON_CHOICES}
    return str(labels.get(code, code))


@bp.app_template_global()
def verdict_awaited(case: Case | dict[str, Any] | str) -> bool:
    """For the public case page and "my cases": does the signed-in submitter owe a verdict?

    Takes a Case, a public case view (dict) or a tracking number."""
    if not getattr(current_user, "is_authenticated", False):
        return False
    if not isinstance(case, Case):
        number = case.get("tracking_number") if isinstance(case, dict) else case
        found = get_session().scalar(select(Case).where(Case.tracking_number == number))
        if found is None:
            return False
        case = found
    return verdicts.awaiting_verdict(get_session(), case, current_user)


def _user() -> Any:
    return current_user._get_current_object()


def _page() -> tuple[int, int]:
    return queries.clamp_page(
        request.args.get("page", type=int), request.args.get("per_page", type=int)
    )


def _departments() -> list[Department]:
    return list(queries.departments(get_session()))


def _department_choices(
    *, blank: str | None = None, exclude: int | None = None
) -> list[SelectChoice]:
    choices = [SelectChoice("", blank)] if blank is not None else []
    return choices + [SelectChoice(d.code, d.name) for d in _departments() if d.id != exclude]


def _category_choices() -> list[SelectChoice]:
    """Groups (a whole group may be chosen) and their categories, grouped by group."""
    choices: list[SelectChoice] = []
    for group in queries.catalogue_groups(get_session()):
        label = f"{group.code} {group.name}"
        choices.append(SelectChoice(group.code, label, optgroup=label))
        choices.extend(
            SelectChoice(c.code, f"{c.code} {c.name}", optgroup=label)
            for c in group.children
            if c.active
        )
    return choices


def _field_error(form: Any, error: ValidationError) -> None:
    """Show a service's ValidationError under the matching form field (or as a form error)."""
    field = getattr(form, error.field or "", None)
    if field is not None and hasattr(field, "errors"):
        field.errors = [*list(field.errors), error.message]
    else:
        form.form_errors.append(error.message)


# --- the department queue -----------------------------------------------------------------------


@bp.get("/workbench/")
@login_required
def queue() -> Any:
    if not permissions.can_use_workbench(current_user):
        if permissions.can_triage(current_user):
            return redirect(url_for("workbench.triage_queue"))
        raise PermissionDenied(_("The workbench is for department staff."))
    db = get_session()
    args = request.args
    status = args.get("status", "active")
    filters = queues.QueueFilters(
        status=status if status in (*STATUSES, "active", "all") else "active",
        urgency=args.get("urgency", "")
        if args.get("urgency") in ("emergency", "urgent", "normal")
        else "",
        overdue=args.get("overdue") == "1",
        street=args.get("street", "")[:40],
        category=args.get("category", "")[:20],
        sort=args.get("sort", "due") if args.get("sort") in ("due", "newest", "oldest") else "due",
    )
    page, per_page = _page()
    department_id = current_user.department_id
    result = queues.department_queue(
        db, department_id=department_id, filters=filters, page=page, per_page=per_page
    )
    filter_args = {
        k: v
        for k, v in {
            "status": filters.status,
            "urgency": filters.urgency,
            "overdue": "1" if filters.overdue else "",
            "street": filters.street,
            "category": filters.category,
            "sort": filters.sort,
        }.items()
        if v
    }
    return render_template(
        "workbench/queue.html",
        result=result,
        filters=filters,
        filter_args=filter_args,
        counts=queues.status_counts(db, department_id=department_id),
        department=current_user.department,
        streets=queries.streets(db),
        groups=queries.catalogue_groups(db),
        now=utcnow(),
    )


# --- the staff case page and its actions --------------------------------------------------------


def _action_forms(case: Case, user: Any) -> dict[str, Any]:
    """The action forms this user may use on this case in its current status. A case that carries
    a residents' proposal's formal answer has the answer form in place of "Mark resolved"."""
    can = lambda action: permissions.can_take_workbench_action(user, case, action)  # noqa: E731
    forms: dict[str, Any] = {}
    status = case.status
    awaiting = proposal_awaiting_answer(get_session(), case.id)
    if awaiting is not None and permissions.can_answer_proposal(user, awaiting):
        forms["answer"] = AnswerForm(prefix="answer")
    if can("accept") and status == ASSIGNED:
        forms["accept"] = AcceptForm(prefix="accept")
    if can("contact") and status == ACCEPTED:
        forms["contact"] = ContactForm(prefix="contact")
    if (can("reply") and status in (ASSIGNED, ACCEPTED, RESOLVED)) or can("note"):
        form = ReplyForm(prefix="reply")
        form.public.data = can("reply") and status in (ASSIGNED, ACCEPTED, RESOLVED)
        forms["reply"] = form
    if can("request_co") and status in (ASSIGNED, ACCEPTED):
        form = CoHandlingForm(prefix="co")
        form.department.choices = _department_choices(exclude=case.lead_department_id)
        forms["request_co"] = form
    if can("co_done") and status in (ASSIGNED, ACCEPTED):
        forms["co_done"] = CoDoneForm(prefix="codone")
    if can("transfer") and status in (ASSIGNED, ACCEPTED):
        form = TransferForm(prefix="transfer")
        form.department.choices = _department_choices(exclude=case.lead_department_id)
        forms["transfer"] = form
    if can("return") and status in (ASSIGNED, ACCEPTED):
        forms["return"] = ReturnForm(prefix="return")
    if can("resolve") and status == ACCEPTED and awaiting is None:
        forms["resolve"] = ResolveForm(prefix="resolve")
    if can("attach") and status in (ASSIGNED, ACCEPTED, RESOLVED):
        forms["attach"] = PhotoForm(prefix="photo")
    return forms


def _render_case(case: Case, *, forms: dict[str, Any] | None = None, status: int = 200) -> Any:
    db = get_session()
    user = _user()
    action_forms = _action_forms(case, user)
    action_forms.update(forms or {})
    reply = action_forms.get("reply")
    templates = services.templates_for_case(db, case) if reply is not None else []
    if reply is not None:
        reply.template.choices = [SelectChoice("", _("— none —"))] + [
            SelectChoice(str(t.id), t.title) for t in templates
        ]
        chosen = request.args.get("template", type=int)
        if chosen and request.method == "GET":
            template = services.get_response_template(db, case, chosen)
            reply.template.data = str(template.id)
            reply.body.data = services.render_response_template(template, case)
    events = db.scalars(
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.created_at, CaseEvent.id)
    ).all()
    return render_template(
        "workbench/case.html",
        case=case,
        events=events,
        forms=action_forms,
        response_templates=templates,
        show_contact=permissions.can_view_contact(user, case),
        public_reply_allowed=permissions.can_take_workbench_action(user, case, "reply")
        and case.status in (ASSIGNED, ACCEPTED, RESOLVED),
        pending_transfer=queues.pending_transfer_for(db, case.id),
        now=utcnow(),
    ), status


@bp.get("/workbench/cases/<tracking_number>")
@login_required
def case_page(tracking_number: str) -> Any:
    case = case_for_staff(get_session(), tracking_number.strip().upper(), _user())
    return _render_case(case)


def _photo_uploads(files: list[FileStorage]) -> list[PhotoUpload]:
    return [
        PhotoUpload(filename=f.filename or "photo", content_type=f.mimetype or "", data=f.read())
        for f in files
        if f and f.filename
    ]


@bp.post("/workbench/cases/<tracking_number>/<action>")
@login_required
def case_action(tracking_number: str, action: str) -> Any:
    """One action on a case. Validation errors re-render the page with the text kept; a
    concurrent change or a status that no longer allows it shows a clear message."""
    db = get_session()
    user = _user()
    case = case_for_staff(db, tracking_number.strip().upper(), user)
    forms = _action_forms(case, user)
    form = forms.get(action)
    if form is None and action == "resolve" and "answer" in forms:
        # A proposal's case is resolved by its formal answer: say why, and show that form.
        try:
            require_no_pending_answer(db, case, action="resolve")
        except InvalidTransition as error:
            flash(error.message, "error")
            return redirect(
                url_for("workbench.case_page", tracking_number=case.tracking_number)
                + "#answer-form"
            )
    if form is None:
        if action not in {
            "answer",
            "accept",
            "contact",
            "reply",
            "request_co",
            "co_done",
            "transfer",
            "return",
            "resolve",
            "attach",
        }:
            abort(404)
        flash(_("This action is not available on this case any more."), "error")
        return redirect(url_for("workbench.case_page", tracking_number=case.tracking_number))
    if action == "reply":
        form.template.choices = [SelectChoice("", "")] + [
            SelectChoice(str(t.id), t.title) for t in services.templates_for_case(db, case)
        ]
    if not form.validate_on_submit():
        return _render_case(case, forms={action: form}, status=422)
    message = _("Done.")
    try:
        if action == "accept":
            services.accept_case(db, case=case, actor=user)
            message = _("You accepted the case. It is now being handled by your department.")
        elif action == "contact":
            services.record_contact(
                db, case=case, actor=user, method=form.method.data, note=form.note.data
            )
            message = _("Contact recorded.")
        elif action == "reply":
            services.add_reply(
                db, case=case, actor=user, body=form.body.data, public=bool(form.public.data)
            )
            message = _("Reply published.") if form.public.data else _("Internal note added.")
        elif action == "request_co":
            services.request_co_handling(
                db, case=case, actor=user, department_code=form.department.data, note=form.note.data
            )
            message = _("Co-handling requested.")
        elif action == "co_done":
            services.complete_co_task(db, case=case, actor=user, note=form.note.data)
            message = _("Your department's part is marked done.")
        elif action == "transfer":
            pending = services.transfer_case(
                db,
                case=case,
                actor=user,
                department_code=form.department.data,
                reason=form.reason.data,
            )
            message = (
                _("Transfer requested: a coordinator will approve or reject it.")
                if pending is not None
                else _("The case was transferred.")
            )
        elif action == "return":
            services.return_case(db, case=case, actor=user, reason=form.reason.data)
            message = _("The case was returned to the dispatch centre.")
        elif action == "resolve":
            services.resolve_case(db, case=case, actor=user, summary=form.summary.data)
            message = _("The case is marked resolved; the resident will be asked for a verdict.")
        elif action == "answer":
            proposal = _awaiting_proposal(case)
            answers.answer_proposal(
                db,
                proposal=proposal,
                actor=user,
                outcome=form.outcome.data or "",
                answer=form.answer.data or "",
                reasons=form.reasons.data or "",
            )
            message = (
                _(
                    "The official answer is published on the proposal page and the case is "
                    "resolved; the resident will be asked for a verdict."
                )
                if case.status == RESOLVED
                else _("The official answer is published on the proposal page.")
            )
        elif action == "attach":
            services.attach_photos(
                db,
                case=case,
                actor=user,
                photos=_photo_uploads(form.photos.data or []),
                public=bool(form.public.data),
            )
            message = _("Photos attached.")
    except ValidationError as error:
        db.rollback()
        case = case_for_staff(db, case.tracking_number, user)
        _field_error(form, error)
        return _render_case(case, forms={action: form}, status=422)
    except (Conflict, InvalidTransition) as error:
        db.rollback()
        flash(error.message, "error")
        return redirect(url_for("workbench.case_page", tracking_number=case.tracking_number))
    db.commit()
    flash(message, "success")
    if action in {"return", "transfer"} and not permissions.can_view_case_internal(user, case):
        return redirect(url_for("workbench.queue"))
    return redirect(url_for("workbench.case_page", tracking_number=case.tracking_number))


def _awaiting_proposal(case: Case) -> Proposal:
    proposal = proposal_awaiting_answer(get_session(), case.id)
    if proposal is None:  # answered meanwhile (the form came from the same check)
        raise InvalidTransition(_("This action is not available on this case any more."))
    return proposal


# --- triage (dispatch centre) -------------------------------------------------------------------


def _require_triage() -> None:
    if not permissions.can_triage(current_user):
        raise PermissionDenied(_("Triage is for the dispatch centre."))


@bp.get("/workbench/triage")
@login_required
def triage_queue() -> Any:
    _require_triage()
    page, per_page = _page()
    return render_template(
        "workbench/triage.html",
        result=queues.triage_queue(get_session(), page=page, per_page=per_page),
        now=utcnow(),
    )


def _triage_forms(case: Case) -> tuple[DispatchForm, CloseInvalidForm]:
    dispatch = DispatchForm(prefix="dispatch")
    dispatch.category.choices = _category_choices()
    dispatch.department.choices = _department_choices(blank=_("As the routing rules decide"))
    dispatch.co_departments.choices = _department_choices()
    if request.method == "GET":
        predicted = case.category or case.predicted_category
        dispatch.category.data = predicted.code if predicted else None
    return dispatch, CloseInvalidForm(prefix="close")


def _render_triage_case(
    case: Case, dispatch: DispatchForm, close: CloseInvalidForm, status: int = 200
) -> Any:
    db = get_session()
    reading = case.category or case.predicted_category
    suggestion = triage.suggest_routing(db, case, reading)
    returned = db.scalars(
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.type == "return")
        .order_by(CaseEvent.id.desc())
    ).first()
    return render_template(
        "workbench/triage_case.html",
        case=case,
        dispatch=dispatch,
        close=close,
        suggestion=suggestion,
        returned=returned,
        now=utcnow(),
    ), status


def _triage_case(tracking_number: str) -> Case:
    _require_triage()
    case = get_session().scalar(
        select(Case).where(Case.tracking_number == tracking_number.strip().upper())
    )
    if case is None:
        raise NotFound(_("No such case."))
    return case


@bp.get("/workbench/triage/<tracking_number>")
@login_required
def triage_case(tracking_number: str) -> Any:
    case = _triage_case(tracking_number)
    if case.status != TRIAGE:
        return redirect(url_for("workbench.case_page", tracking_number=case.tracking_number))
    return _render_triage_case(case, *_triage_forms(case))


@bp.post("/workbench/triage/<tracking_number>/<action>")
@login_required
def triage_action(tracking_number: str, action: str) -> Any:
    if action not in {"dispatch", "close"}:
        abort(404)
    db = get_session()
    user = _user()
    case = _triage_case(tracking_number)
    dispatch, close = _triage_forms(case)
    form = dispatch if action == "dispatch" else close
    if not form.validate_on_submit():
        return _render_triage_case(case, dispatch, close, status=422)
    try:
        if action == "dispatch":
            triage.dispatch_case(
                db,
                case=case,
                actor=user,
                category_code=dispatch.category.data,
                department_code=dispatch.department.data or None,
                co_department_codes=dispatch.co_departments.data or (),
                priority=dispatch.priority.data or None,
                note=dispatch.note.data,
            )
            message = _(
                "Case %(number)s dispatched to %(department)s.",
                number=case.tracking_number,
                department=case.lead_department.name,
            )
        else:
            triage.close_invalid(
                db,
                case=case,
                actor=user,
                reason=close.reason.data,
                note=close.note.data,
                duplicate_of=close.duplicate_of.data,
            )
            message = _("Case %(number)s closed.", number=case.tracking_number)
    except ValidationError as error:
        db.rollback()
        case = _triage_case(tracking_number)
        _field_error(form, error)
        return _render_triage_case(case, dispatch, close, status=422)
    except (Conflict, InvalidTransition) as error:
        db.rollback()
        flash(error.message, "error")
        return redirect(url_for("workbench.triage_queue"))
    db.commit()
    flash(message, "success")
    return redirect(url_for("workbench.triage_queue"))


# --- transfer approvals -------------------------------------------------------------------------


@bp.get("/workbench/transfers")
@login_required
def transfers() -> Any:
    if not permissions.can_decide_transfer(current_user):
        raise PermissionDenied(_("Transfer approvals are for the dispatch centre."))
    page, per_page = _page()
    return render_template(
        "workbench/transfers.html",
        result=queues.pending_transfers(get_session(), page=page, per_page=per_page),
        form=TransferDecisionForm(),
    )


@bp.post("/workbench/transfers/<int:request_id>")
@login_required
def decide_transfer(request_id: int) -> Any:
    if not permissions.can_decide_transfer(current_user):
        raise PermissionDenied(_("Transfer approvals are for the dispatch centre."))
    db = get_session()
    transfer = db.get(TransferRequest, request_id)
    if transfer is None:
        raise NotFound(_("No such transfer request."))
    form = TransferDecisionForm()
    if not form.validate_on_submit() or form.decision.data not in {"approve", "reject"}:
        flash(_("Choose approve or reject."), "error")
        return redirect(url_for("workbench.transfers"))
    try:
        services.decide_transfer(
            db,
            request=transfer,
            actor=_user(),
            approve=form.decision.data == "approve",
            note=form.note.data,
        )
    except (ValidationError, Conflict, InvalidTransition) as error:
        db.rollback()
        flash(error.message, "error")
        return redirect(url_for("workbench.transfers"))
    db.commit()
    flash(
        _("Transfer approved.") if form.decision.data == "approve" else _("Transfer rejected."),
        "success",
    )
    return redirect(url_for("workbench.transfers"))


# --- a head's figures ---------------------------------------------------------------------------


@bp.get("/workbench/figures")
@login_required
def figures() -> Any:
    db = get_session()
    code = request.args.get("department", "")
    if code and permissions.is_dispatch_centre(current_user):
        department = db.scalar(select(Department).where(Department.code == code))
        if department is None:
            raise NotFound(_("No such department."))
    else:
        department = current_user.department if permissions.is_head(current_user) else None
        if department is None and permissions.is_dispatch_centre(current_user):
            department = next(iter(_departments()), None)
    if department is None or not permissions.can_see_department_figures(
        current_user, department.id
    ):
        raise PermissionDenied(_("Department figures are for the department head."))
    return render_template(
        "workbench/figures.html",
        department=department,
        figures=queues.department_figures(db, department_id=department.id),
        departments=_departments() if permissions.is_dispatch_centre(current_user) else [],
    )


# --- the resident's verdict ---------------------------------------------------------------------


@bp.route("/cases/<tracking_number>/verdict", methods=["GET", "POST"])
@login_required
def verdict(tracking_number: str) -> Any:
    """The submitter rates a resolved case: not resolved reopens it, resolved closes it."""
    db = get_session()
    case = db.scalar(select(Case).where(Case.tracking_number == tracking_number.strip().upper()))
    if case is None or not permissions.can_view_case(current_user, case):
        raise NotFound(_("No such case."))
    if not permissions.can_give_verdict(current_user, case):
        raise PermissionDenied(_("Only the resident who reported this case can rate it."))
    form = VerdictForm()
    if not verdicts.awaiting_verdict(db, case, current_user):
        flash(_("This case is not waiting for your verdict."), "error")
        return redirect(url_for("cases.case_detail", tracking_number=case.tracking_number))
    if form.validate_on_submit():
        try:
            verdicts.record_verdict(
                db,
                case=case,
                user=_user(),
                resolved=form.resolved.data == "yes",
                satisfaction=int(form.satisfaction.data),
                comment=form.comment.data,
                channel="web",
            )
        except ValidationError as error:
            db.rollback()
            _field_error(form, error)
            return render_template("workbench/verdict.html", case=case, form=form), 422
        except (Conflict, InvalidTransition) as error:
            db.rollback()
            flash(error.message, "error")
            return redirect(url_for("cases.case_detail", tracking_number=case.tracking_number))
        db.commit()
        flash(
            _("Thank you. The case is closed.")
            if form.resolved.data == "yes"
            else _("Thank you. The case has been reopened and sent back to the department."),
            "success",
        )
        return redirect(url_for("cases.case_detail", tracking_number=case.tracking_number))
    status = 422 if request.method == "POST" else 200
    return render_template("workbench/verdict.html", case=case, form=form), status
