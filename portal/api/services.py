"""API use cases: keys, channel residents and account linking, the notifications feed, idempotency.

Plain functions of a session and primitives; they flush, never commit — except the idempotency
claim, which must be committed on its own connection before the work starts (see
:func:`claim_idempotency_key`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from portal.accounts.models import ChannelIdentity, Role, User
from portal.api.models import ApiKey, IdempotencyRecord, LinkCode
from portal.cases.models import Case, CaseFollower, Notification
from portal.db import utcnow
from portal.errors import Conflict, NotFound, ValidationError
from portal.privacy.crypto import identity_lookup_hashes
from portal.privacy.hash_keys import refresh_stale_hash

#: Scopes an API key may carry. A ``channel:<name>`` key acts for residents of that channel and
#: may therefore also read and submit their cases.
SCOPES: dict[str, str] = {
    "cases:read": "Read the catalogue and public case views",
    "cases:submit": "Preview and submit cases (also Open311 POST requests)",
    "channel:telegram": "Act for Telegram residents; read and acknowledge their notifications",
}
CHANNELS = ("telegram",)
KEY_PREFIX = "shz_"
LINK_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
LINK_CODE_LENGTH = 8
LINK_CODE_TTL = timedelta(minutes=15)
#: A claim left ``in_progress`` this long (a worker died mid-request) may be taken over.
IDEMPOTENCY_STALE_AFTER = timedelta(minutes=5)
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
RESIDENT_RE = re.compile(r"^(?P<channel>[a-z]+):(?P<external_id>[0-9]{1,20})$")


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# --- API keys -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewApiKey:
    """The stored key and its secret, which exists only in this object (shown once)."""

    api_key: ApiKey
    secret: str


def create_api_key(
    session: Session, *, name: str, scopes: Sequence[str], created_by: User | None = None
) -> NewApiKey:
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ValidationError(_("Give the key a name of 1 to 80 characters."), field="name")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValidationError(
            _("Unknown scope(s): %(scopes)s", scopes=", ".join(unknown)), field="scopes"
        )
    if not scopes:
        raise ValidationError(_("Choose at least one scope."), field="scopes")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        prefix=secret[: len(KEY_PREFIX) + 8],
        hash=_sha256(secret),
        scopes=sorted(set(scopes)),
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    return NewApiKey(key, secret)


def revoke_api_key(
    session: Session, *, key_id: int | None = None, prefix: str | None = None
) -> ApiKey:
    stmt = select(ApiKey)
    if key_id is not None:
        stmt = stmt.where(ApiKey.id == key_id)
    elif prefix:
        stmt = stmt.where(ApiKey.prefix == prefix)
    else:
        raise ValidationError(_("Say which key to revoke."), field="key")
    key = session.scalar(stmt)
    if key is None:
        raise NotFound(_("No such API key."))
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key


def list_api_keys(
    session: Session, *, page: int = 1, per_page: int = 50
) -> tuple[list[ApiKey], int]:
    total = session.scalar(select(func.count()).select_from(ApiKey)) or 0
    keys = session.scalars(
        select(ApiKey).order_by(ApiKey.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return list(keys), total


def authenticate_api_key(session: Session, secret: str) -> ApiKey | None:
    """The active key for ``secret``, or None. Compares hashes in constant time."""
    if not secret or not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    digest = _sha256(secret)
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == secret[: len(KEY_PREFIX) + 8]))
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.hash, digest):
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        key.last_used_at = now  # coarse, so busy keys do not write on every request
    return key


# --- channel residents and linking ----------------------------------------------------------


def parse_resident(value: str) -> tuple[str, str]:
    """``"telegram:12345"`` → ``("telegram", "12345")``; ValidationError otherwise."""
    match = RESIDENT_RE.match(value or "")
    if match is None or match["channel"] not in CHANNELS:
        raise ValidationError(
            _("X-Shuzhi-Resident must look like telegram:<numeric user id>."),
            field="X-Shuzhi-Resident",
        )
    return match["channel"], match["external_id"]


def resolve_channel_resident(
    session: Session,
    *,
    channel: str,
    external_id: str,
    display_name: str | None = None,
    locale: str | None = None,
) -> User:
    """The resident behind a channel identity, created (User + ChannelIdentity) on first sight.

    Safe under concurrency: the insert happens in a savepoint and a unique violation means another
    request created the identity first, which is then used.
    """
    identity = find_channel_identity(session, channel=channel, external_id=external_id)
    if identity is not None:
        return identity.user
    name = (display_name or "").strip()[:80] or f"{channel.capitalize()} resident"
    try:
        with session.begin_nested():
            user = User(
                display_name=name,
                role=Role.RESIDENT.value,
                locale=locale or "zh_Hans_CN",
                created_at=utcnow(),
            )
            session.add(user)
            session.flush()
            session.add(
                ChannelIdentity(
                    user_id=user.id, channel=channel, external_id=external_id, created_at=utcnow()
                )
            )
            session.flush()
    except IntegrityError:
        identity = find_channel_identity(session, channel=channel, external_id=external_id)
        if identity is None:
            raise
        return identity.user
    return user


def find_channel_identity(
    session: Session, *, channel: str, external_id: str
) -> ChannelIdentity | None:
    """The identity of ``channel:external_id``, its hash made under any key of the hash key ring.

    One hashed under an older key is re-hashed under the active key on the spot (lazy re-hash),
    so residents who keep using the bot move to the new key without ``keys rehash``.
    """
    candidates = identity_lookup_hashes(channel, external_id)
    found = session.scalars(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel,
            ChannelIdentity.external_id_hash.in_(candidates),
        )
    ).all()
    if not found:
        return None
    # A duplicate made during a rolling restart: prefer the one under the newest key.
    identity = min(found, key=lambda row: (candidates.index(row.external_id_hash), row.id))
    refresh_stale_hash(session, identity, "external_id_hash", candidates[0])
    return identity


def create_link_code(session: Session, *, user: User) -> str:
    """A new one-time code for ``user`` (earlier unused codes of theirs stop working)."""
    now = utcnow()
    session.execute(delete(LinkCode).where(LinkCode.user_id == user.id, LinkCode.used_at.is_(None)))
    code = "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(LINK_CODE_LENGTH))
    session.add(
        LinkCode(
            code_hash=_sha256(code), user_id=user.id, created_at=now, expires_at=now + LINK_CODE_TTL
        )
    )
    session.flush()
    return code


def normalize_link_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").upper()


def redeem_link_code(session: Session, *, code: str, channel: str, external_id: str) -> User:
    """Move the channel identity (and what its channel-only resident owns) to the code's account."""
    normalized = normalize_link_code(code)
    if not re.fullmatch(f"[{LINK_CODE_ALPHABET}]{{{LINK_CODE_LENGTH}}}", normalized):
        raise ValidationError(_("This linking code is not valid."), field="code")
    now = utcnow()
    link = session.scalar(
        select(LinkCode).where(LinkCode.code_hash == _sha256(normalized)).with_for_update()
    )
    if link is None or link.used_at is not None or link.expires_at < now:
        raise ValidationError(
            _("This linking code is not valid or has expired; get a new one on your account page."),
            field="code",
        )
    claimed = session.execute(
        update(LinkCode)
        .where(LinkCode.id == link.id, LinkCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise Conflict(_("This linking code was just used."))
    target = link.user
    identity = find_channel_identity(session, channel=channel, external_id=external_id)
    if identity is None:
        session.add(
            ChannelIdentity(
                user_id=target.id, channel=channel, external_id=external_id, created_at=now
            )
        )
        session.flush()
        return target
    old_user_id = identity.user_id
    if old_user_id == target.id:
        return target
    identity.user_id = target.id
    _merge_resident(session, from_user_id=old_user_id, to_user_id=target.id)
    session.flush()
    return target


def _merge_resident(session: Session, *, from_user_id: int, to_user_id: int) -> None:
    """Give the account the cases, subscriptions and pending notifications of a channel resident."""
    session.execute(
        update(Case)
        .where(Case.submitter_id == from_user_id)
        .values(submitter_id=to_user_id)
        .execution_options(synchronize_session=False)
    )
    already = select(CaseFollower.case_id).where(CaseFollower.user_id == to_user_id)
    session.execute(
        update(CaseFollower)
        .where(CaseFollower.user_id == from_user_id, CaseFollower.case_id.not_in(already))
        .values(user_id=to_user_id)
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(CaseFollower).where(CaseFollower.user_id == from_user_id))
    session.execute(
        update(Notification)
        .where(Notification.user_id == from_user_id)
        .values(user_id=to_user_id)
        .execution_options(synchronize_session=False)
    )
    others = session.scalar(
        select(func.count())
        .select_from(ChannelIdentity)
        .where(ChannelIdentity.user_id == from_user_id)
    )
    old = session.get(User, from_user_id)
    if old is not None and not others and old.email is None and old.password_hash is None:
        old.active = False  # an empty channel-only record; kept for the audit trail
    session.flush()
    session.expire_all()  # the bulk updates above bypassed the identity map


# --- residents' cases ------------------------------------------------------------------------


def list_resident_cases(
    session: Session, *, user: User, page: int, per_page: int
) -> tuple[list[Case], int]:
    """Cases the resident submitted or follows, newest first."""
    followed = select(CaseFollower.case_id).where(CaseFollower.user_id == user.id)
    where = (Case.submitter_id == user.id) | Case.id.in_(followed)
    total = session.scalar(select(func.count()).select_from(Case).where(where)) or 0
    cases = session.scalars(
        select(Case)
        .where(where)
        .order_by(Case.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(cases), total


# --- notifications feed ----------------------------------------------------------------------


@dataclass(frozen=True)
class PendingNotification:
    notification: Notification
    external_id: str
    tracking_number: str | None
    case_status: str | None
    locale: str


def pending_notifications(
    session: Session, *, channel: str, after: int = 0, limit: int = 50
) -> list[PendingNotification]:
    """Unacknowledged outbox rows for residents known on ``channel``, by id, after a cursor."""
    identity = (
        select(ChannelIdentity.user_id, func.min(ChannelIdentity.external_id).label("external_id"))
        .where(ChannelIdentity.channel == channel)
        .group_by(ChannelIdentity.user_id)
        .subquery()
    )
    rows = session.execute(
        select(Notification, identity.c.external_id, Case.tracking_number, Case.status, User.locale)
        .join(identity, identity.c.user_id == Notification.user_id)
        .join(User, User.id == Notification.user_id)
        .outerjoin(Case, Case.id == Notification.case_id)
        .where(Notification.acked_at.is_(None), Notification.id > after)
        .order_by(Notification.id)
        .limit(limit)
    ).all()
    return [PendingNotification(*row) for row in rows]


def ack_notifications(session: Session, *, channel: str, ids: Sequence[int]) -> int:
    """Mark notifications delivered; repeating the call is harmless. Returns how many of ``ids``
    belong to residents on ``channel`` (acknowledged now or before)."""
    if not ids:
        return 0
    on_channel = select(ChannelIdentity.user_id).where(ChannelIdentity.channel == channel)
    mine = select(Notification.id).where(
        Notification.id.in_(list(ids)), Notification.user_id.in_(on_channel)
    )
    matched = list(session.scalars(mine))
    if matched:
        session.execute(
            update(Notification)
            .where(Notification.id.in_(matched), Notification.acked_at.is_(None))
            .values(acked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    session.flush()
    return len(matched)


# --- idempotency -----------------------------------------------------------------------------


def request_fingerprint(method: str, path: str, resident: str | None, body: bytes) -> str:
    """Same request ⇔ same fingerprint. JSON bodies are canonicalised (key order, spacing)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), (resident or "").encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class IdempotencyClaim:
    """Outcome of a claim: ``record_id`` to complete, or a stored response to replay."""

    record_id: int | None = None
    replay_status: int | None = None
    replay_body: Any = None


def claim_idempotency_key(
    session_factory: sessionmaker[Session], *, api_key_id: int, key: str, fingerprint: str
) -> IdempotencyClaim:
    """Claim ``key`` for this request in its own committed transaction.

    Returns a claim to work under, or a stored response to replay. Raises ValidationError (422)
    when the key was used with another payload and Conflict (409) while the first request with this
    key is still being processed.
    """
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise ValidationError(
            _("Idempotency-Key must be 1 to 255 printable ASCII characters."),
            field="Idempotency-Key",
        )
    for _attempt in range(3):
        claim = _try_claim(session_factory, api_key_id=api_key_id, key=key, fingerprint=fingerprint)
        if claim is not None:
            return claim
    raise Conflict(
        _in_progress_message(), code="idempotency_in_progress"
    )  # pragma: no cover - the first request keeps failing and releasing its claim


def _in_progress_message() -> str:
    return _("A request with this Idempotency-Key is being processed; retry shortly.")


def _try_claim(
    session_factory: sessionmaker[Session], *, api_key_id: int, key: str, fingerprint: str
) -> IdempotencyClaim | None:
    """One claim attempt; None when the conflicting record vanished meanwhile (try again)."""
    with session_factory() as claim_session:
        now = utcnow()
        record = IdempotencyRecord(
            api_key_id=api_key_id,
            key=key,
            fingerprint=fingerprint,
            status="in_progress",
            created_at=now,
        )
        claim_session.add(record)
        try:
            claim_session.commit()
            return IdempotencyClaim(record_id=record.id)
        except IntegrityError:
            claim_session.rollback()
        existing = claim_session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key
            )
        )
        if existing is None:  # the first request failed and released its claim meanwhile
            return None
        if existing.fingerprint != fingerprint:
            raise ValidationError(
                _("This Idempotency-Key was already used with a different request."),
                code="idempotency_key_reused",
                field="Idempotency-Key",
            )
        if existing.status == "done":
            return IdempotencyClaim(
                replay_status=existing.response_status, replay_body=existing.response_body
            )
        taken = claim_session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == existing.id,
                IdempotencyRecord.status == "in_progress",
                IdempotencyRecord.created_at < now - IDEMPOTENCY_STALE_AFTER,
            )
            .values(created_at=now)
        )
        claim_session.commit()
        if taken.rowcount == 1:
            return IdempotencyClaim(record_id=existing.id)
        raise Conflict(_in_progress_message(), code="idempotency_in_progress")


def complete_idempotency_key(session: Session, *, record_id: int, status: int, body: Any) -> None:
    """Store the response in the SAME transaction as the work, so they commit together."""
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record_id)
        .values(status="done", response_status=status, response_body=body, completed_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def release_idempotency_key(session_factory: sessionmaker[Session], *, record_id: int) -> None:
    """Forget a claim whose request failed without a storable answer, so a retry may run."""
    with session_factory() as release_session:
        release_session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.id == record_id, IdempotencyRecord.status == "in_progress"
            )
        )
        release_session.commit()


def record_idempotent_failure(
    session_factory: sessionmaker[Session], *, record_id: int, status: int, body: Any
) -> None:
    """Store a deterministic error (validation) so the same request replays the same answer."""
    with session_factory() as failure_session:
        complete_idempotency_key(failure_session, record_id=record_id, status=status, body=body)
        failure_session.commit()


def purge_idempotency_records(session: Session, *, older_than: datetime) -> int:
    result = session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.status == "done", IdempotencyRecord.created_at < older_than
        )
    )
    return int(result.rowcount or 0)
