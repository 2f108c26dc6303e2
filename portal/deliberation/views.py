"""Deliberation pages: proposals (/proposals), case threads, comments, moderation (/moderation)
and the resident verification page (/account/verification).

Views parse the form, call one service, commit once and redirect; domain errors on a form post
come back as a flash message on the page the resident was on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms.fields.choices import SelectChoice

from portal import get_session, permissions
from portal.accounts.models import User
from portal.cases.models import Case
from portal.cases.services import get_case_by_tracking_number
from portal.deliberation import answers, overview, threads
from portal.deliberation import lifecycle as lc
from portal.deliberation import moderation as mod
from portal.deliberation import participation as part
from portal.deliberation import services as svc
from portal.deliberation.forms import (
    STANCE_CHOICES,
    AnswerForm,
    CommentForm,
    ProgressForm,
    ProposalForm,
)
from portal.deliberation.models import Comment, Proposal
from portal.errors import DomainError, NotFound, ValidationError
from portal.jurisdiction.models import Area

bp = Blueprint(
    "deliberation",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/deliberation",
)


def _register_api(state: Any) -> None:
    """The JSON endpoints (``/api/v1/proposals``…) are a blueprint of their own (no CSRF), and
    so are the administrators' verification-code pages (``/admin/verification-codes``)."""
    from portal.deliberation.api import bp as api_bp
    from portal.deliberation.code_pages import bp as code_pages_bp

    state.app.register_blueprint(api_bp)
    state.app.register_blueprint(code_pages_bp)


bp.record_once(_register_api)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str


def nav_items() -> list[NavItem]:
    """议事 (proposals) for everyone; 审核 (moderation) for moderators."""
    items = [NavItem(_("Proposals"), url_for("deliberation.proposal_list"))]
    if permissions.can_moderate(current_user):
        items.append(NavItem(_("Moderation"), url_for("deliberation.moderation_queue")))
    return items


@bp.app_context_processor
def _deliberation_globals() -> dict[str, Any]:
    return {
        "proposal_status_label": lc.status_label,
        "proposal_event_label": lc.event_label,
        "outcome_label": lc.outcome_label,
        "render_comment": threads.render_body,
        "stance_choices": STANCE_CHOICES,
        "case_thread": _case_thread,
        "proposal_for_case": _proposal_for_case,
    }


def _proposal_for_case(case_id: int) -> Proposal | None:
    """The proposal a case of kind "proposal" was created for (the workbench links to it)."""
    return get_session().scalar(select(Proposal).where(Proposal.case_id == case_id))


def _user() -> Any:
    return current_user._get_current_object() if current_user.is_authenticated else None


def _int_arg(name: str, default: int = 1) -> int:
    value = request.args.get(name, type=int)
    return value if value is not None and value > 0 else default


def _act(action: Callable[[], Any], back: str, success: str | None = None) -> Any:
    """Run a service for a form post: commit and flash ``success``, or roll back and flash the
    domain error's message; then go back."""
    session = get_session()
    try:
        action()
    except NotFound:
        raise
    except DomainError as error:
        session.rollback()
        flash(error.message, "error")
        return redirect(back)
    session.commit()
    if success:
        flash(success, "success")
    return redirect(back)


# --- proposals --------------------------------------------------------------------------------


def _area_choices() -> list[tuple[str, str]]:
    areas = get_session().scalars(select(Area).where(Area.level != "district").order_by(Area.code))
    return [("", _("Whole district"))] + [(a.code, a.name) for a in areas]


@bp.route("/proposals/")
def proposal_list() -> Any:
    session = get_session()
    status = request.args.get("status", "active")
    sort = request.args.get("sort", "newest")
    area_code = request.args.get("area") or None
    try:
        result = svc.list_proposals(
            session,
            status=status,
            area_code=area_code,
            sort=sort if sort != "nearest" else "newest",
            page=_int_arg("page"),
            per_page=min(_int_arg("per_page", 20), 100),
        )
    except ValidationError as error:
        flash(error.message, "error")
        result = svc.list_proposals(session, page=1)
    return render_template(
        "deliberation/list.html",
        result=result,
        status=status,
        sort=sort,
        area_code=area_code,
        areas=_area_choices(),
        statuses=svc.LIST_STATUSES,
    )


@bp.route("/proposals/new", methods=["GET", "POST"])
@login_required
def new_proposal() -> Any:
    session = get_session()
    form = ProposalForm()
    form.category_code.choices = [SelectChoice("", _("Choose a category"))] + [
        SelectChoice(c.code, f"{c.parent.name} › {c.name}" if c.parent else c.name)
        for c in svc.category_choices(session)
    ]
    form.area_code.choices = [SelectChoice(code, name) for code, name in _area_choices()]
    needed = part.required_level(session, "create")
    if request.method == "POST":
        try:
            proposal = svc.create_proposal(
                session,
                author=_user(),
                title=form.title.data or "",
                body=form.body.data or "",
                category_code=form.category_code.data or "",
                area_code=form.area_code.data or None,
            )
        except DomainError as error:
            session.rollback()
            field = getattr(error, "field", None)
            target = getattr(form, field, None) if field else None
            if target is not None:
                target.errors = [error.message]
            else:
                flash(error.message, "error")
        else:
            session.commit()
            flash(
                _("Your proposal is published. Share it so that neighbours can support it."),
                "success",
            )
            return redirect(url_for("deliberation.proposal_detail", proposal_id=proposal.id))
    return render_template(
        "deliberation/new.html", form=form, needed=needed, level_label=part.level_label
    )


def _visible_case(tracking_number: str) -> Case:
    """The case, or NotFound (as if there were none) when the user may not see it."""
    case = get_case_by_tracking_number(get_session(), tracking_number)
    if not permissions.can_view_case(current_user, case):
        raise NotFound(_("No case has the tracking number %(n)s.", n=tracking_number[:30]))
    return case


@bp.route("/proposals/from-case/<tracking_number>", methods=["POST"])
@login_required
def proposal_from_case(tracking_number: str) -> Any:
    session = get_session()
    case = _visible_case(tracking_number)
    try:
        proposal = svc.proposal_from_case(session, case=case, user=_user())
    except DomainError as error:
        session.rollback()
        flash(error.message, "error")
        return redirect(url_for("cases.case_detail", tracking_number=case.tracking_number))
    session.commit()
    flash(_("Your report is now a proposal: neighbours can support and discuss it."), "success")
    return redirect(url_for("deliberation.proposal_detail", proposal_id=proposal.id))


@bp.route("/proposals/<int:proposal_id>")
def proposal_detail(proposal_id: int) -> Any:
    session = get_session()
    viewer = _user()
    proposal = svc.get_proposal(session, proposal_id)
    if svc.sync_review_status(session, proposal):  # its case was dispatched from triage meanwhile
        session.commit()
    sort = request.args.get("sort", "newest")
    thread = threads.load_thread(
        session, proposal_id=proposal.id, viewer=viewer, sort=sort, page=_int_arg("page")
    )
    return render_template(
        "deliberation/detail.html",
        proposal=proposal,
        show_content=permissions.can_view_proposal_content(viewer, proposal),
        overview=overview.stance_overview(session, proposal_id=proposal.id),
        thread=thread,
        thread_url=url_for("deliberation.comment_on_proposal", proposal_id=proposal.id),
        supported=svc.has_supported(session, proposal, viewer),
        following=svc.is_following(session, proposal, viewer),
        is_author=permissions.is_proposal_author(viewer, proposal),
        can_answer=permissions.can_answer_proposal(viewer, proposal),
        supportable=proposal.status in svc.SUPPORTABLE,
        archive_reason=svc.archive_reason(proposal) if proposal.status == lc.ARCHIVED else None,
        answer_form=AnswerForm(),
        progress_form=ProgressForm(),
        comment_form=CommentForm(),
        lc=lc,
    )


def _proposal_back(proposal_id: int) -> str:
    return url_for("deliberation.proposal_detail", proposal_id=proposal_id)


# --- a proposal's buttons ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalButton:
    """What a button on a proposal's page does: ``service(session, proposal=…, <user_arg>=the
    signed-in user, <field>=the form's text for each of ``fields``)``, then ``done`` is flashed."""

    service: Callable[..., object]
    done: LazyString
    user_arg: str = "user"
    fields: tuple[str, ...] = ()


def _record_progress(session: Session, *, proposal: Proposal, actor: User) -> None:
    """The progress form: a whole number, the milestone and an optional YYYY-MM-DD date."""
    raw_progress = request.form.get("progress", "")
    raw_date = request.form.get("on_date", "")
    if not raw_progress.isdigit():
        raise ValidationError(_("Progress is a whole number from 0 to 100."), field="progress")
    try:
        on_date = date.fromisoformat(raw_date) if raw_date else None
    except ValueError:
        raise ValidationError(_("Give the date as YYYY-MM-DD."), field="on_date") from None
    answers.record_progress(
        session,
        proposal=proposal,
        actor=actor,
        progress=int(raw_progress),
        milestone=request.form.get("milestone", ""),
        on_date=on_date,
    )


#: The buttons by endpoint; "unfollow" is the follow button of a follower (``action=unfollow``).
PROPOSAL_BUTTONS = {
    "support": ProposalButton(
        partial(svc.support_proposal, channel="web"), _l("Thank you for your support.")
    ),
    "unsupport": ProposalButton(svc.withdraw_support, _l("Your support is withdrawn.")),
    "follow": ProposalButton(
        svc.follow_proposal, _l("You follow this proposal: you are told about every step.")
    ),
    "unfollow": ProposalButton(svc.unfollow_proposal, _l("You no longer follow this proposal.")),
    "withdraw": ProposalButton(
        svc.withdraw_proposal, _l("The proposal is withdrawn."), fields=("reason",)
    ),
    "answer": ProposalButton(
        answers.answer_proposal,
        _l("The answer is published."),
        user_arg="actor",
        fields=("outcome", "answer", "reasons"),
    ),
    "implementation": ProposalButton(
        answers.start_implementation,
        _l("Implementation started."),
        user_arg="actor",
        fields=("plan",),
    ),
    "progress": ProposalButton(_record_progress, _l("Progress recorded."), user_arg="actor"),
}


@bp.post("/proposals/<int:proposal_id>/support", endpoint="support")
@bp.post("/proposals/<int:proposal_id>/unsupport", endpoint="unsupport")
@bp.post("/proposals/<int:proposal_id>/follow", endpoint="follow")
@bp.post("/proposals/<int:proposal_id>/withdraw", endpoint="withdraw")
@bp.post("/proposals/<int:proposal_id>/answer", endpoint="answer")
@bp.post("/proposals/<int:proposal_id>/implementation", endpoint="implementation")
@bp.post("/proposals/<int:proposal_id>/progress", endpoint="progress")
@login_required
def proposal_button(proposal_id: int) -> Any:
    """A press on one of the ``PROPOSAL_BUTTONS``: its service runs on the proposal (404 if there
    is none), then back to the proposal's page with ``done`` or the service's refusal."""
    name = (request.endpoint or "").rpartition(".")[2]
    if name == "follow" and request.form.get("action") == "unfollow":
        name = "unfollow"
    button = PROPOSAL_BUTTONS[name]
    session = get_session()
    proposal = svc.get_proposal(session, proposal_id)

    def press() -> None:
        given = {field: request.form.get(field, "") for field in button.fields}
        button.service(session, proposal=proposal, **{button.user_arg: _user()}, **given)

    return _act(press, _proposal_back(proposal_id), str(button.done))


# --- threads ----------------------------------------------------------------------------------


def _case_thread(tracking_number: str) -> dict[str, Any]:
    """Everything the case page's thread include needs (a template global)."""
    session = get_session()
    case = get_case_by_tracking_number(session, tracking_number)
    viewer = _user()
    return {
        "enabled": permissions.is_public_case(case),
        "thread": threads.load_thread(
            session,
            case_id=case.id,
            viewer=viewer,
            sort=request.args.get("sort", "newest"),
            page=_int_arg("page"),
        ),
        "overview": overview.stance_overview(session, case_id=case.id),
        "post_url": url_for("deliberation.comment_on_case", tracking_number=case.tracking_number),
        "comment_form": CommentForm(),
    }


def _parent_id() -> int | None:
    raw = request.form.get("parent_id") or ""
    if not raw:
        return None
    if not raw.isdigit():
        raise ValidationError(_("The comment you reply to does not exist."), field="parent_id")
    return int(raw)


@bp.route("/proposals/<int:proposal_id>/comments", methods=["POST"])
@login_required
def comment_on_proposal(proposal_id: int) -> Any:
    session = get_session()
    proposal = svc.get_proposal(session, proposal_id)
    return _post_comment(_proposal_back(proposal_id) + "#thread", proposal=proposal)


@bp.route("/cases/<tracking_number>/comments", methods=["POST"])
@login_required
def comment_on_case(tracking_number: str) -> Any:
    case = _visible_case(tracking_number)
    return _post_comment(
        url_for("cases.case_detail", tracking_number=case.tracking_number) + "#thread", case=case
    )


def _post_comment(back: str, **target: Any) -> Any:
    session = get_session()
    held: list[bool] = []

    def post() -> None:
        comment = threads.post_comment(
            session,
            author=_user(),
            body=request.form.get("body", ""),
            stance=request.form.get("stance", "neutral"),
            parent_id=_parent_id(),
            **target,
        )
        held.append(comment.moderation != "visible")

    response = _act(post, back)
    if held and held[0]:
        flash(_("Your comment waits for a moderator's review before others can see it."), "success")
    elif held:
        flash(_("Your comment is posted."), "success")
    return response


def _comment_back(comment: Comment) -> str:
    if comment.proposal_id is not None:
        return _proposal_back(comment.proposal_id) + f"#c{comment.id}"
    case = get_session().get(Case, comment.case_id)
    assert case is not None
    return url_for("cases.case_detail", tracking_number=case.tracking_number) + f"#c{comment.id}"


@bp.route("/comments/<int:comment_id>/edit", methods=["GET", "POST"])
@login_required
def edit_comment(comment_id: int) -> Any:
    session = get_session()
    comment = threads.get_comment(session, comment_id)
    if not permissions.can_edit_comment(current_user, comment):
        raise NotFound(_("No such comment."))
    if request.method == "POST":
        return _act(
            lambda: threads.edit_comment(
                session,
                comment=comment,
                user=_user(),
                body=request.form.get("body", ""),
                stance=request.form.get("stance") or None,
            ),
            _comment_back(comment),
            _("Your comment is updated."),
        )
    return render_template(
        "deliberation/edit_comment.html",
        comment=comment,
        back=_comment_back(comment),
        still_editable=threads.can_still_edit(session, comment),
    )


@bp.route("/comments/<int:comment_id>/delete", methods=["POST"])
@login_required
def delete_comment(comment_id: int) -> Any:
    session = get_session()
    comment = threads.get_comment(session, comment_id)
    return _act(
        lambda: threads.delete_comment(session, comment=comment, user=_user()),
        _comment_back(comment),
        _("Your comment is deleted."),
    )


@bp.route("/comments/<int:comment_id>/like", methods=["POST"])
@login_required
def like_comment(comment_id: int) -> Any:
    session = get_session()
    comment = threads.get_comment(session, comment_id)
    if request.form.get("action") == "unlike":
        return _act(
            lambda: threads.unlike_comment(session, comment=comment, user=_user()),
            _comment_back(comment),
        )
    return _act(
        lambda: threads.like_comment(session, comment=comment, user=_user()), _comment_back(comment)
    )


@bp.route("/report/<target_type>/<int:target_id>", methods=["POST"])
@login_required
def report(target_type: str, target_id: int) -> Any:
    session = get_session()
    if target_type == "comment":
        back = _comment_back(threads.get_comment(session, target_id))
    elif target_type == "proposal":
        back = _proposal_back(svc.get_proposal(session, target_id).id)
    else:
        raise NotFound(_("Nothing to moderate here."))
    return _act(
        lambda: mod.report_content(
            session,
            reporter=_user(),
            target_type=target_type,
            target_id=target_id,
            reason=request.form.get("reason", ""),
        ),
        back,
        _("Thank you: moderators will look at your report."),
    )


# --- moderation -------------------------------------------------------------------------------


def _require_moderator() -> None:
    if not permissions.can_moderate(current_user):
        raise NotFound(_("Page not found."))


@bp.route("/moderation/")
@login_required
def moderation_queue() -> Any:
    _require_moderator()
    session = get_session()
    queue = mod.moderation_queue(session, page=_int_arg("page"))
    return render_template("deliberation/moderation.html", queue=queue, Proposal=Proposal)


@bp.route("/moderation/decide", methods=["POST"])
@login_required
def moderation_decide() -> Any:
    _require_moderator()
    session = get_session()
    target_type = request.form.get("target_type", "")
    raw_id = request.form.get("target_id", "")
    decision = request.form.get("decision", "")
    if not raw_id.isdigit() or decision not in ("hide", "restore", "block"):
        flash(_("Choose what to do."), "error")
        return redirect(url_for("deliberation.moderation_queue"))
    target_id = int(raw_id)
    reason = request.form.get("reason", "")

    def decide() -> None:
        content: dict[str, Any] = {
            "moderator": _user(),
            "target_type": target_type,
            "target_id": target_id,
            "reason": reason,
            "ip": request.remote_addr,
        }
        if decision == "hide":
            mod.hide_content(session, **content)
        elif decision == "restore":
            mod.restore_content(session, **content)
        else:
            item = mod.TARGET_TYPES.get(target_type)
            row = session.get(item, target_id) if item is not None else None
            if row is None:
                raise NotFound(_("Nothing to moderate here."))
            days_raw = request.form.get("days", "30")
            days = int(days_raw) if days_raw.isdigit() else 0
            mod.hide_content(session, **content)
            mod.block_author(
                session,
                moderator=_user(),
                user_id=row.author_id,
                days=days,
                reason=reason,
                ip=request.remote_addr,
            )

    return _act(
        decide,
        url_for("deliberation.moderation_queue"),
        _("Done: the decision is recorded in the audit log."),
    )


# --- verification ------------------------------------------------------------------------------


@bp.route("/account/verification", methods=["GET", "POST"])
@login_required
def verification() -> Any:
    session = get_session()
    if request.method == "POST":
        before = current_user.verification_level
        response = _act(
            lambda: part.redeem_verification_code(
                session, user=_user(), code=request.form.get("code", "")
            ),
            url_for("deliberation.verification"),
        )
        after = current_user.verification_level
        if after == part.RESIDENT_VERIFIED and before != after:
            flash(_("Thank you: you are now a verified resident."), "success")
        elif after > before:
            flash(
                _("Thank you: your account is now “%(level)s”.", level=part.level_label(after)),
                "success",
            )
        return response
    return render_template(
        "deliberation/verification.html",
        level=current_user.verification_level,
        level_label=part.level_label,
        phone_confirmed=part.has_confirmed_phone(session, _user()),
        has_link_page="api.link_code" in current_app.view_functions,
        needs={
            action: part.required_level(session, action) for action in part.ACTION_LEVEL_SETTINGS
        },
    )
