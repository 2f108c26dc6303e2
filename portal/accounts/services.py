"""Account use cases: registering residents, checking passwords, counting failed sign-ins."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from portal.accounts.models import Role, User
from portal.db import utcnow
from portal.errors import Conflict, ValidationError

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
MAX_DISPLAY_NAME_LENGTH = 80
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")

#: Compared against when the e-mail is unknown, so a miss costs as much time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password-used-for-timing")


class InvalidCredentials(ValidationError):
    """Wrong e-mail or password. One generic message: do not reveal which part was wrong."""

    code = "invalid_credentials"
    http_status = 401


@dataclass(frozen=True)
class SignIn:
    """A successful sign-in and how many failed attempts preceded it (to warn the owner)."""

    user: User
    failed_attempts_before: int


def normalize_email(email: str) -> str:
    return email.strip().lower()


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            _("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
            field="password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(
            _("The password may have at most %(n)d characters.", n=MAX_PASSWORD_LENGTH),
            field="password",
        )


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == normalize_email(email)))


def register_user(
    session: Session,
    *,
    email: str,
    display_name: str,
    password: str,
    locale: str = "zh_Hans_CN",
    role: Role = Role.RESIDENT,
) -> User:
    """Create an account. Raises ValidationError for bad input and Conflict for a taken e-mail."""
    email = normalize_email(email)
    display_name = display_name.strip()
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        raise ValidationError(_("Please enter a valid e-mail address."), field="email")
    if not display_name:
        raise ValidationError(_("Please enter a display name."), field="display_name")
    if len(display_name) > MAX_DISPLAY_NAME_LENGTH:
        raise ValidationError(
            _("The display name may have at most %(n)d characters.", n=MAX_DISPLAY_NAME_LENGTH),
            field="display_name",
        )
    validate_password(password)
    if find_user_by_email(session, email) is not None:
        raise Conflict(_("An account with this e-mail address already exists."), field="email")
    user = User(
        email=email,
        display_name=display_name,
        password_hash=generate_password_hash(password),
        role=role.value,
        locale=locale,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, email: str, password: str) -> SignIn:
    """The active user with this e-mail and password, or InvalidCredentials.

    A failure on a known account increments ``failed_login_count``; the caller commits either way
    so the count is kept.
    """
    user = find_user_by_email(session, email) if email.strip() else None
    if user is None or not user.password_hash:
        check_password_hash(_DUMMY_HASH, password)
        log.info("failed sign-in for an unknown e-mail")
        raise InvalidCredentials(_("The e-mail address or the password is not correct."))
    if not check_password_hash(user.password_hash, password) or not user.active:
        user.failed_login_count = (user.failed_login_count or 0) + 1
        user.last_failed_login_at = utcnow()
        session.flush()
        log.warning("failed sign-in for user %s (%d in a row)", user.id, user.failed_login_count)
        raise InvalidCredentials(_("The e-mail address or the password is not correct."))
    failed_before = user.failed_login_count or 0
    user.failed_login_count = 0
    user.last_login_at = utcnow()
    session.flush()
    return SignIn(user=user, failed_attempts_before=failed_before)


def change_password(session: Session, *, user: User, current: str, new: str) -> None:
    if not user.password_hash or not check_password_hash(user.password_hash, current):
        raise ValidationError(_("The current password is not correct."), field="current_password")
    validate_password(new)
    user.password_hash = generate_password_hash(new)
    session.flush()


def set_user_locale(session: Session, *, user: User, locale: str) -> None:
    user.locale = locale
    session.flush()
