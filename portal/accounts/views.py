"""Account pages: register, sign in/out, choose the language, the resident's account page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from portal import get_session
from portal.accounts.forms import LanguageForm, LoginForm, PasswordChangeForm, RegisterForm
from portal.accounts.models import User
from portal.accounts.redirects import safe_next_url
from portal.accounts.services import (
    InvalidCredentials,
    authenticate,
    change_password,
    register_user,
    set_user_locale,
)
from portal.audit.services import record_failed_login, record_login
from portal.errors import DomainError
from portal.extensions import LOCALES, limiter, login_manager

bp = Blueprint("accounts", __name__, template_folder="templates")

LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    try:
        key = int(user_id)
    except (TypeError, ValueError):
        return None
    user = get_session().get(User, key)
    return user if user is not None and user.active else None


def _login_rate_key() -> str:
    """Per-account limit key, so one account cannot be guessed at from many addresses."""
    return "login-email:" + (request.form.get("email") or "").strip().lower()[:254]


def _too_many_sign_ins() -> str:
    return _("Too many sign-in attempts. Please wait a minute and try again.")


def _field_error(form: Any, error: DomainError) -> None:
    """Show a service's ValidationError next to the field it names (or above the form)."""
    field = getattr(form, str(error.details.get("field") or ""), None)
    if field is not None:
        field.errors = [*list(field.errors), error.message]
    else:
        flash(error.message, "error")


def _start_session(user: User) -> None:
    session.clear()  # a fresh session on sign-in: no fixation
    login_user(user)
    session.permanent = False


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("10/minute;100/day", methods=["POST"], error_message=_too_many_sign_ins)
def register() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("cases.home"))
    form = RegisterForm()
    if request.method == "GET":
        form.next.data = safe_next_url(request.args.get("next")) or ""
    if form.validate_on_submit():
        db = get_session()
        locale = request.cookies.get("lang")
        try:
            user = register_user(
                db,
                email=form.email.data or "",
                display_name=form.display_name.data or "",
                password=form.password.data or "",
                locale=locale if locale in LOCALES else "zh_Hans_CN",
            )
        except DomainError as error:
            db.rollback()
            _field_error(form, error)
        else:
            db.commit()
            _start_session(user)
            flash(_("Welcome, %(name)s. Your account is ready.", name=user.display_name), "success")
            return redirect(safe_next_url(form.next.data) or url_for("cases.home"))
    return render_template("accounts/register.html", form=form), 200 if not form.errors else 422


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"], error_message=_too_many_sign_ins)
@limiter.limit(
    "30/hour", key_func=_login_rate_key, methods=["POST"], error_message=_too_many_sign_ins
)
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next_url(request.args.get("next")) or ""
        if current_user.is_authenticated:
            return redirect(safe_next_url(form.next.data) or url_for("cases.home"))
    status = 200
    if form.validate_on_submit():
        db = get_session()
        try:
            sign_in = authenticate(
                db, email=form.email.data or "", password=form.password.data or ""
            )
        except InvalidCredentials as error:
            record_failed_login(db, email=form.email.data or "", ip=request.remote_addr)
            db.commit()  # keep the failed-attempt count (and its audit entry)
            flash(error.message, "error")
            status = 401
        else:
            earlier_failures = sign_in.failed_attempts_before
            record_login(db, user=sign_in.user, ip=request.remote_addr)
            db.commit()
            _start_session(sign_in.user)
            if earlier_failures:
                flash(
                    _(
                        "There were %(n)d failed sign-in attempts on your account since your "
                        "last sign-in.",
                        n=earlier_failures,
                    ),
                    "error",
                )
            return redirect(safe_next_url(form.next.data) or url_for("cases.home"))
    elif form.errors:
        status = 422
    return render_template("accounts/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    logout_user()
    session.clear()
    flash(_("You are signed out."), "success")
    return redirect(url_for("cases.home"))


@bp.route("/lang/<lang>")
def set_language(lang: str) -> Any:
    if lang not in LOCALES:
        return render_template("error.html", code=404, message=_("Unknown language.")), 404
    if current_user.is_authenticated and current_user.locale != lang:
        set_user_locale(get_session(), user=current_user, locale=lang)
        get_session().commit()
    response = redirect(safe_next_url(request.args.get("next")) or url_for("cases.home"))
    response.set_cookie(
        "lang",
        lang,
        max_age=LANGUAGE_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )
    return response


@bp.route("/account", methods=["GET"])
@login_required
def account() -> Any:
    return _render_account(LanguageForm(locale=current_user.locale), PasswordChangeForm())


@bp.route("/account/language", methods=["POST"])
@login_required
def account_language() -> Any:
    form = LanguageForm()
    if not form.validate_on_submit():
        return _render_account(form, PasswordChangeForm(), status=422)
    set_user_locale(get_session(), user=current_user, locale=form.locale.data or "zh_Hans_CN")
    get_session().commit()
    response = redirect(url_for("accounts.account"))
    response.delete_cookie("lang")  # the account's choice applies from now on
    flash(_("Your language preference is saved."), "success")
    return response


@bp.route("/account/password", methods=["POST"])
@login_required
@limiter.limit("10/hour", methods=["POST"])
def account_password() -> Any:
    form = PasswordChangeForm()
    if form.validate_on_submit():
        db = get_session()
        try:
            change_password(
                db,
                user=current_user,
                current=form.current_password.data or "",
                new=form.new_password.data or "",
            )
        except DomainError as error:
            db.rollback()
            _field_error(form, error)
        else:
            db.commit()
            flash(_("Your password is changed."), "success")
            return redirect(url_for("accounts.account"))
    return _render_account(LanguageForm(locale=current_user.locale), form, status=422)


def _render_account(
    language_form: LanguageForm, password_form: PasswordChangeForm, status: int = 200
) -> Any:
    link_code_url = (
        url_for("api.link_code") if "api.link_code" in current_app.view_functions else None
    )
    return (
        render_template(
            "accounts/account.html",
            language_form=language_form,
            password_form=password_form,
            link_code_url=link_code_url,
        ),
        status,
    )


def nav_items() -> list[NavItem]:
    if current_user.is_authenticated:
        return [NavItem(_("My account"), url_for("accounts.account"))]
    return []
