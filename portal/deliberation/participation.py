"""Who may take part: verification levels, one-time resident codes, and moderators' blocks.

Levels (``User.verification_level``): 0 registered, 1 phone confirmed, 2 resident verified (a
one-time code handed out by the community office). Each action requires the level stored in the
settings ``level_to_create_proposal``, ``level_to_support_proposal`` and ``level_to_comment``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.db import utcnow
from portal.deliberation.models import ParticipationBlock, VerificationCode
from portal.errors import PermissionDenied, ValidationError
from portal.jurisdiction.models import Area
from portal.jurisdiction.services import get_setting

REGISTERED, PHONE_CONFIRMED, RESIDENT_VERIFIED = 0, 1, 2
LEVEL_LABELS = {
    REGISTERED: _l("registered"),
    PHONE_CONFIRMED: _l("phone confirmed"),
    RESIDENT_VERIFIED: _l("verified resident"),
}
#: action → the setting that holds the level it needs.
ACTION_LEVEL_SETTINGS = {
    "create": "level_to_create_proposal",
    "support": "level_to_support_proposal",
    "comment": "level_to_comment",
}
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 10
CODE_VALID_DAYS = 30


def level_label(level: int) -> str:
    return str(LEVEL_LABELS.get(level, str(level)))


def required_level(session: Session, action: str) -> int:
    return int(get_setting(session, ACTION_LEVEL_SETTINGS[action]))


def active_block(
    session: Session, user: User, *, now: datetime | None = None
) -> ParticipationBlock | None:
    block = session.scalar(select(ParticipationBlock).where(ParticipationBlock.user_id == user.id))
    if block is None or block.blocked_until <= (now or utcnow()):
        return None
    return block


def require_participation(session: Session, user: User | None, action: str) -> User:
    """The user if they may ``action`` (create, support, comment); PermissionDenied otherwise,
    with a message that says what to do about it."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise PermissionDenied(_("Please sign in first."), code="sign_in_required")
    if not user.active:
        raise PermissionDenied(_("This account is disabled."), code="account_disabled")
    if active_block(session, user) is not None:
        raise PermissionDenied(
            _("A moderator has paused your participation for now."), code="participation_blocked"
        )
    needed = required_level(session, action)
    if user.verification_level < needed:
        raise PermissionDenied(
            _(
                "This needs the level “%(needed)s”; your account is “%(have)s”. Enter the code "
                "from your community office on the verification page.",
                needed=level_label(needed),
                have=level_label(user.verification_level),
            ),
            code="verification_required",
            needed=needed,
        )
    return user


# --- one-time codes from the community office --------------------------------------------------


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalize_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


@dataclass(frozen=True)
class IssuedCode:
    code: str  # shown once, to be printed or handed over
    record: VerificationCode


def issue_verification_codes(
    session: Session,
    *,
    count: int,
    issued_by: str,
    area: Area | None = None,
    valid_days: int = CODE_VALID_DAYS,
) -> list[IssuedCode]:
    """Create ``count`` one-time codes (only their hashes are kept). Flushes."""
    if not 1 <= count <= 500:
        raise ValidationError(_("Issue between 1 and 500 codes at a time."), field="count")
    if not 1 <= valid_days <= 365:
        raise ValidationError(_("Codes are valid for 1 to 365 days."), field="valid_days")
    now = utcnow()
    issued = []
    for _i in range(count):
        code = "".join(secrets.choice(CODE_ALPHABET) for _c in range(CODE_LENGTH))
        record = VerificationCode(
            code_hash=_hash(code),
            area_id=area.id if area is not None else None,
            issued_by=issued_by[:120],
            level=RESIDENT_VERIFIED,
            created_at=now,
            expires_at=now + timedelta(days=valid_days),
        )
        session.add(record)
        issued.append(IssuedCode(code=code, record=record))
    session.flush()
    return issued


def redeem_verification_code(session: Session, *, user: User, code: str) -> User:
    """Raise the user to the code's level. A code works once; the claim is a conditional UPDATE
    so two people typing the same code at once cannot both use it."""
    normalized = normalize_code(code)
    invalid = ValidationError(
        _(
            "This code is not valid (or has been used or has expired). Check it with your community office."
        ),
        field="code",
        code="invalid_code",
    )
    if len(normalized) != CODE_LENGTH:
        raise invalid
    now = utcnow()
    record = session.scalar(
        select(VerificationCode).where(VerificationCode.code_hash == _hash(normalized))
    )
    if record is None or record.revoked or record.used_at is not None or record.expires_at <= now:
        raise invalid
    claimed = session.execute(
        update(VerificationCode)
        .where(VerificationCode.id == record.id, VerificationCode.used_at.is_(None))
        .values(used_at=now, used_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise invalid
    session.refresh(record)
    if user.verification_level < record.level:
        user.verification_level = record.level
    session.flush()
    return user
