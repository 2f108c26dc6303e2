"""Who may take part: verification levels, one-time resident codes, and moderators' blocks.

Levels (``User.verification_level``): 0 registered, 1 phone confirmed, 2 resident verified (a
one-time code handed out by the community office). Each action requires the level stored in the
settings ``level_to_create_proposal``, ``level_to_support_proposal`` and ``level_to_comment``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.audit.services import record_audit
from portal.db import utcnow
from portal.deliberation.models import (
    ConfirmedPhone,
    ParticipationBlock,
    VerificationCode,
    VerificationCodeBatch,
)
from portal.errors import Conflict, PermissionDenied, ValidationError
from portal.jurisdiction.models import Area
from portal.jurisdiction.services import get_setting
from portal.privacy.crypto import phone_lookup_hashes

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


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalize_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


@dataclass(frozen=True)
class IssuedCode:
    code: str  # shown once, to be printed or handed over
    record: VerificationCode


@dataclass(frozen=True)
class IssuedBatch:
    batch: VerificationCodeBatch
    codes: list[IssuedCode]  # the plaintext codes exist only here: shown once


#: Levels a community office's code may grant.
CODE_LEVELS = (PHONE_CONFIRMED, RESIDENT_VERIFIED)
MAX_CODES_PER_BATCH = 500
MAX_VALID_DAYS = 365


def issue_code_batch(
    session: Session,
    *,
    count: int,
    issued_by: str,
    area: Area | None = None,
    level: int = RESIDENT_VERIFIED,
    valid_days: int = CODE_VALID_DAYS,
    issued_by_user: User | None = None,
    request_token: str | None = None,
) -> IssuedBatch:
    """Create a batch of ``count`` one-time codes (only their hashes are kept). Flushes.

    ``request_token`` (the issuing form's one-time token) makes a re-sent form harmless: a batch
    already issued for it raises :class:`Conflict` with ``batch_id``, and the codes are not
    shown again."""
    if not 1 <= count <= MAX_CODES_PER_BATCH:
        raise ValidationError(_("Issue between 1 and 500 codes at a time."), field="count")
    if not 1 <= valid_days <= MAX_VALID_DAYS:
        raise ValidationError(_("Codes are valid for 1 to 365 days."), field="valid_days")
    if level not in CODE_LEVELS:
        raise ValidationError(_("Choose the level the codes grant."), field="level")
    issued_by = (issued_by or "").strip()
    if not issued_by:
        raise ValidationError(_("Name the office handing the codes out."), field="issued_by")
    if request_token is not None:
        earlier = session.scalar(
            select(VerificationCodeBatch).where(
                VerificationCodeBatch.request_token == request_token
            )
        )
        if earlier is not None:
            raise _already_issued(earlier.id)
    now = utcnow()
    batch = VerificationCodeBatch(
        area_id=area.id if area is not None else None,
        level=level,
        count=count,
        issued_by=issued_by[:120],
        issued_by_user_id=issued_by_user.id if issued_by_user is not None else None,
        request_token=request_token,
        created_at=now,
        expires_at=now + timedelta(days=valid_days),
    )
    session.add(batch)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # the same form sent twice at once: the other request issued it
        earlier_id = session.scalar(
            select(VerificationCodeBatch.id).where(
                VerificationCodeBatch.request_token == request_token
            )
        )
        raise _already_issued(earlier_id) from None
    issued = []
    for _i in range(count):
        code = "".join(secrets.choice(CODE_ALPHABET) for _c in range(CODE_LENGTH))
        record = VerificationCode(
            code_hash=code_hash(code),
            batch_id=batch.id,
            area_id=batch.area_id,
            issued_by=batch.issued_by,
            level=level,
            created_at=now,
            expires_at=batch.expires_at,
        )
        session.add(record)
        issued.append(IssuedCode(code=code, record=record))
    session.flush()
    return IssuedBatch(batch=batch, codes=issued)


def _already_issued(batch_id: int | None) -> Conflict:
    return Conflict(
        _(
            "These codes were already issued (the form was sent twice). For safety they are "
            "not shown again: revoke the batch and issue a new one if they were not printed."
        ),
        code="batch_already_issued",
        batch_id=batch_id,
    )


def issue_verification_codes(
    session: Session,
    *,
    count: int,
    issued_by: str,
    area: Area | None = None,
    valid_days: int = CODE_VALID_DAYS,
    level: int = RESIDENT_VERIFIED,
) -> list[IssuedCode]:
    """Create ``count`` one-time codes as one batch (only their hashes are kept). Flushes."""
    return issue_code_batch(
        session, count=count, issued_by=issued_by, area=area, level=level, valid_days=valid_days
    ).codes


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
        select(VerificationCode).where(VerificationCode.code_hash == code_hash(normalized))
    )
    if record is None or record.revoked or record.used_at is not None or record.expires_at <= now:
        raise invalid
    claimed = session.execute(
        update(VerificationCode)
        .where(
            VerificationCode.id == record.id,
            VerificationCode.used_at.is_(None),
            VerificationCode.revoked.is_(False),  # revoked meanwhile on the admin page
            VerificationCode.expires_at > now,
        )
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


# --- phone confirmed by a channel (level 1) -----------------------------------------------------

#: Channels that vouch for a phone number. Telegram does: a contact card carries the Telegram
#: user id of its owner, and the number on a card whose id is the sender's own is the number
#: Telegram verified for that account. There is no SMS gateway, so the web portal vouches for
#: nothing: there, level 1 comes from an administrator (a code of that level).
PHONE_VOUCHING_CHANNELS = frozenset({"telegram"})
PHONE_DIGITS_MIN, PHONE_DIGITS_MAX = 5, 20


@dataclass(frozen=True)
class PhoneConfirmation:
    user: User
    level_before: int
    #: False when this exact number was already confirmed for the account (a repeat).
    changed: bool


def _phone_digits(phone: str) -> str:
    return re.sub(r"\D", "", phone or "")


def confirm_phone_from_channel(
    session: Session,
    *,
    user: User,
    channel: str,
    external_id: str,
    contact_user_id: str,
    phone_number: str,
) -> PhoneConfirmation:
    """Record the phone number ``channel`` vouches for and raise ``user`` to level 1 (never
    lower). Idempotent: the same number again changes nothing. Flushes; audited on change.

    ``contact_user_id`` is the channel's id of the contact card's owner: it must be
    ``external_id``, the resident's own id (someone else's card proves nothing). A number
    already confirmed for another account is refused (one number, one account).
    """
    if channel not in PHONE_VOUCHING_CHANNELS:
        raise PermissionDenied(
            _("This channel cannot confirm phone numbers."), code="channel_cannot_confirm_phone"
        )
    if str(contact_user_id) != str(external_id):
        raise ValidationError(
            _(
                "This is not your own contact: only your own phone number, shared with the "
                "button, confirms your account."
            ),
            field="contact_user_id",
            code="not_own_contact",
        )
    if not user.active:
        raise PermissionDenied(_("This account is disabled."), code="account_disabled")
    digits = _phone_digits(phone_number)
    if not PHONE_DIGITS_MIN <= len(digits) <= PHONE_DIGITS_MAX:
        raise ValidationError(_("This is not a phone number."), field="phone_number")
    taken = session.scalar(
        select(ConfirmedPhone.user_id).where(
            ConfirmedPhone.phone_hash.in_(phone_lookup_hashes(phone_number)),
            ConfirmedPhone.user_id != user.id,
        )
    )
    if taken is not None:
        raise _phone_taken()
    record = session.scalar(select(ConfirmedPhone).where(ConfirmedPhone.user_id == user.id))
    level_before = user.verification_level
    changed = False
    if record is None:
        session.add(
            ConfirmedPhone(
                user_id=user.id, phone=phone_number, channel=channel, confirmed_at=utcnow()
            )
        )
        changed = True
    elif _phone_digits(record.phone) != digits:  # the resident changed their number
        record.phone, record.channel, record.confirmed_at = phone_number, channel, utcnow()
        changed = True
    if user.verification_level < PHONE_CONFIRMED:
        user.verification_level = PHONE_CONFIRMED
        changed = True
    if not changed:
        return PhoneConfirmation(user=user, level_before=level_before, changed=False)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # The same confirmation sent twice at once (its twin won), or another account
        # confirming this number at the same moment.
        mine = session.scalar(select(ConfirmedPhone).where(ConfirmedPhone.user_id == user.id))
        if mine is not None and _phone_digits(mine.phone) == digits:
            session.refresh(user)
            return PhoneConfirmation(user=user, level_before=level_before, changed=False)
        raise _phone_taken() from None
    record_audit(
        session,
        actor=user,
        action="verification.phone_confirmed",
        target_type="user",
        target_id=user.id,
        before={"verification_level": level_before},
        after={"verification_level": user.verification_level, "channel": channel},
    )
    return PhoneConfirmation(user=user, level_before=level_before, changed=True)


def _phone_taken() -> Conflict:
    return Conflict(
        _(
            "This phone number already confirms another account. If that is your old account, "
            "ask an administrator for help."
        ),
        code="phone_confirms_other_account",
    )


def has_confirmed_phone(session: Session, user: User) -> bool:
    return (
        session.scalar(select(ConfirmedPhone.id).where(ConfirmedPhone.user_id == user.id))
        is not None
    )
