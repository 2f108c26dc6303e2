"""Audit use cases: append an entry to the hash chain, verify the chain, search and export it.

``record_audit`` works inside the caller's transaction and flushes at once. It **fails closed**:
if the entry cannot be written (lock timeout, constraint, lost connection) the exception reaches
the caller and its whole transaction — the audited change included — is rolled back. An action is
therefore never committed without its audit entry.

Appends are serialised by the one-row ``audit_chain_head`` table: each append first writes to it
(``INSERT … ON CONFLICT DO NOTHING``, which takes SQLite's database write lock), then reads it
``FOR UPDATE`` (PostgreSQL row lock, held to the end of the transaction), so two transactions can
never both link to the same previous entry.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy import Select, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from portal.audit.models import CHAIN_HEAD_ID, GENESIS_HASH, AuditChainHead, AuditEntry
from portal.cases.queries import Page, clamp_page
from portal.db import utcnow
from portal.errors import ValidationError

if TYPE_CHECKING:
    from portal.accounts.models import User

#: Actions the application records (the search form offers these; others are still accepted).
AUDIT_ACTIONS = (
    "login",
    "login_failed",
    "role_changed",
    "user_updated",
    "contact_revealed",
    "department_created",
    "department_updated",
    "area_created",
    "area_updated",
    "category_created",
    "category_updated",
    "routing_rule_created",
    "routing_rule_updated",
    "sla_profile_created",
    "sla_profile_updated",
    "response_template_created",
    "response_template_updated",
    "settings_updated",
    "export",
    "moderation",
    "retention_run",
    "personal_data_exported",
    "account_erased",
    "key_rotated",
    "keys_reencrypted",
    "key_retired",
)
EXPORT_FORMATS = ("csv", "json")
#: An export larger than this must be narrowed by date.
MAX_EXPORT_ROWS = 100_000
EXPORT_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "before",
    "after",
    "reason",
    "ip",
    "prev_hash",
    "hash",
)
SYSTEM_ACTOR = "system"


# --- the chain ------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def to_json_value(value: Any) -> Any:
    """``value`` as it will read back from a JSON column (dates as ISO strings, sets as lists)."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=_json_default, ensure_ascii=False))


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def entry_hash(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry's fields, ``prev_hash`` included."""
    canonical = {
        "id": fields["id"],
        "at": _iso(fields["at"]),
        "actor_id": fields["actor_id"],
        "actor_label": fields["actor_label"],
        "action": fields["action"],
        "target_type": fields["target_type"],
        "target_id": fields["target_id"],
        "before": fields["before"],
        "after": fields["after"],
        "reason": fields["reason"],
        "ip": fields["ip"],
        "prev_hash": fields["prev_hash"],
    }
    payload = json.dumps(
        canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _lock_chain_head(session: Session) -> AuditChainHead:
    """Create the head row if needed and lock it until the end of the transaction."""
    dialect = session.get_bind().dialect.name
    values = {"id": CHAIN_HEAD_ID, "last_entry_id": 0, "last_hash": GENESIS_HASH}
    if dialect == "postgresql":
        session.execute(pg_insert(AuditChainHead).values(**values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite_insert(AuditChainHead).values(**values).on_conflict_do_nothing())
    elif session.get(AuditChainHead, CHAIN_HEAD_ID) is None:  # pragma: no cover - other DBs
        session.add(AuditChainHead(**values))
        session.flush()
    return session.execute(
        select(AuditChainHead)
        .where(AuditChainHead.id == CHAIN_HEAD_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def actor_label_of(actor: User | str | None) -> str:
    """Who acted, as kept for good in the log: officials by name (accountability), residents
    only by account id (the log cannot be erased, so it holds no resident's name)."""
    if actor is None:
        return "anonymous"
    if isinstance(actor, str):
        return actor[:120]
    if actor.role == "resident":
        return f"user #{actor.id} (resident)"
    return f"{actor.display_name} ({actor.role})"[:120]


def record_audit(
    session: Session,
    *,
    actor: User | str | None,
    action: str,
    target_type: str | None = None,
    target_id: object | None = None,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Append one entry to the chain in the caller's transaction (flushed, not committed).

    ``actor`` is the acting user, a system label such as ``"cli"`` or ``"system:retention"``, or
    None for an anonymous request (a failed sign-in). ``before``/``after`` hold only the fields
    that changed and must never hold sensitive values (a phone number, a password hash).
    Any failure propagates: the caller's transaction must not commit without its audit entry.
    """
    if not action or len(action) > 40:
        raise ValueError("an audit action is a short identifier")
    head = _lock_chain_head(session)
    fields: dict[str, Any] = {
        "id": head.last_entry_id + 1,
        "at": utcnow(),
        "actor_id": None if actor is None or isinstance(actor, str) else actor.id,
        "actor_label": actor_label_of(actor),
        "action": action,
        "target_type": target_type,
        "target_id": None if target_id is None else str(target_id)[:64],
        "before": to_json_value(before),
        "after": to_json_value(after),
        "reason": reason,
        "ip": ip[:45] if ip else None,
        "prev_hash": head.last_hash,
    }
    fields["hash"] = entry_hash(fields)
    entry = AuditEntry(**fields)
    session.add(entry)
    head.last_entry_id = entry.id
    head.last_hash = entry.hash
    session.flush()
    return entry


def record_login(session: Session, *, user: User, ip: str | None) -> AuditEntry:
    return record_audit(
        session, actor=user, action="login", target_type="user", target_id=user.id, ip=ip
    )


def record_failed_login(session: Session, *, email: str, ip: str | None) -> AuditEntry:
    """A failed sign-in, on a known account or an unknown e-mail address.

    The e-mail address typed is not stored (it may be someone else's personal data): a known
    account is referenced by its id, an unknown address only as ``account_known: false``."""
    from portal.accounts.services import find_user_by_email

    user = find_user_by_email(session, email) if email.strip() else None
    if user is None:
        return record_audit(
            session, actor=None, action="login_failed", after={"account_known": False}, ip=ip
        )
    return record_audit(
        session,
        actor=None,
        action="login_failed",
        target_type="user",
        target_id=user.id,
        after={"account_known": True, "failed_login_count": user.failed_login_count},
        ip=ip,
    )


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose value differs, as (before, after) dicts for an audit entry."""
    keys = [k for k in after if to_json_value(before.get(k)) != to_json_value(after.get(k))]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


# --- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str | None = None
    #: modified | missing | unlinked | out_of_order | head (for translated messages)
    kind: str | None = None


def _walk_chain(rows: Iterable[Any]) -> tuple[VerifyResult | None, int, str]:
    """Check entries in id order: (the first break or None, the number checked, the last hash)."""
    expected_id, prev_hash, checked = 1, GENESIS_HASH, 0
    for row in rows:
        if row["id"] != expected_id:
            if row["id"] < expected_id:
                broken = VerifyResult(
                    False, checked, row["id"], "entry ids are out of order", "out_of_order"
                )
            else:
                broken = VerifyResult(
                    False,
                    checked,
                    expected_id,
                    f"entry {expected_id} is missing (deleted)",
                    "missing",
                )
            return broken, checked, prev_hash
        if row["prev_hash"] != prev_hash:
            return (
                VerifyResult(
                    False,
                    checked,
                    row["id"],
                    "entry does not link to the previous entry",
                    "unlinked",
                ),
                checked,
                prev_hash,
            )
        if entry_hash(dict(row)) != row["hash"]:
            return (
                VerifyResult(
                    False,
                    checked,
                    row["id"],
                    "entry content does not match its hash (modified)",
                    "modified",
                ),
                checked,
                prev_hash,
            )
        checked += 1
        prev_hash = row["hash"]
        expected_id += 1
    return None, checked, prev_hash


def verify_chain(session: Session, *, batch_size: int = 1000) -> VerifyResult:
    """Recompute every hash and link, in id order, and compare the chain head.

    Reads rows directly (not through the identity map), so it sees what is in the database,
    in batches (a server-side cursor on PostgreSQL, closed even when a break stops the walk).
    Detects a modified entry (its hash), a deleted entry (a gap in the ids / a broken link), a
    re-linked or inserted entry (``prev_hash``) and deleted newest entries (the chain head).
    """
    table = AuditEntry.__table__
    result = session.execute(
        select(table).order_by(table.c.id).execution_options(yield_per=batch_size)
    )
    try:
        broken, checked, prev_hash = _walk_chain(result.mappings())
    finally:
        result.close()
    if broken is not None:
        return broken
    last_id = checked
    head = (
        session.execute(select(AuditChainHead.__table__).where(AuditChainHead.id == CHAIN_HEAD_ID))
        .mappings()
        .first()
    )
    if head is None:
        if last_id == 0:
            return VerifyResult(True, 0)
        return VerifyResult(False, checked, last_id, "the chain head is missing", "head")
    if head["last_entry_id"] > last_id:
        return VerifyResult(
            False, checked, last_id + 1, f"entries after {last_id} are missing (deleted)", "missing"
        )
    if head["last_entry_id"] != last_id or head["last_hash"] != prev_hash:
        return VerifyResult(
            False, checked, last_id, "the chain head does not match the last entry", "head"
        )
    return VerifyResult(True, checked)


# --- search and export ----------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            k: to_json_value(v)
            for k, v in (
                ("actor", self.actor),
                ("action", self.action),
                ("target_type", self.target_type),
                ("since", self.since),
                ("until", self.until),
            )
            if v
        }


def _filtered(filters: AuditFilters) -> Select[tuple[AuditEntry]]:
    stmt = select(AuditEntry)
    if filters.actor:
        actor = filters.actor.strip()
        pattern = "%" + actor.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        condition = AuditEntry.actor_label.ilike(pattern, escape="\\")
        if actor.isdigit():
            condition = or_(condition, AuditEntry.actor_id == int(actor))
        stmt = stmt.where(condition)
    if filters.action:
        stmt = stmt.where(AuditEntry.action == filters.action)
    if filters.target_type:
        stmt = stmt.where(AuditEntry.target_type == filters.target_type)
    if filters.since:
        stmt = stmt.where(AuditEntry.at >= filters.since)
    if filters.until:
        stmt = stmt.where(AuditEntry.at < filters.until)
    return stmt


def search_audit(
    session: Session, filters: AuditFilters, *, page: int | None = 1, per_page: int | None = 50
) -> Page[AuditEntry]:
    """Entries matching the filters, newest first, one page."""
    page, per_page = clamp_page(page, per_page)
    stmt = _filtered(filters)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = session.scalars(
        stmt.order_by(AuditEntry.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(items=items, page=page, per_page=per_page, total=total)


def known_actions(session: Session) -> list[str]:
    """The actions to filter by: the application's own and any other found in the log
    (features may record their own, e.g. ``moderation.block``)."""
    stored = session.scalars(select(AuditEntry.action).distinct()).all()
    return sorted(set(AUDIT_ACTIONS) | set(stored))


def count_audit(session: Session, filters: AuditFilters) -> int:
    return session.scalar(select(func.count()).select_from(_filtered(filters).subquery())) or 0


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": _iso(entry.at),
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "before": entry.before,
        "after": entry.after,
        "reason": entry.reason,
        "ip": entry.ip,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def _csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False, sort_keys=True)
        if isinstance(value, dict | list)
        else str(value)
    )
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_audit(session: Session, filters: AuditFilters, *, fmt: str) -> str:
    """The matching entries, oldest first, as CSV (with a header) or a JSON array.

    The caller records the export itself (``record_audit(action="export", ...)``) in the same
    transaction. Raises ValidationError for an unknown format or too many rows.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(_("Unknown export format."), field="format")
    if count_audit(session, filters) > MAX_EXPORT_ROWS:
        raise ValidationError(
            _("More than %(n)d entries: please narrow the date range.", n=MAX_EXPORT_ROWS),
            field="since",
        )
    result = session.scalars(
        _filtered(filters).order_by(AuditEntry.id).execution_options(yield_per=1000)
    )
    buffer = io.StringIO()
    try:
        if fmt == "json":
            json.dump([_row(e) for e in result], buffer, ensure_ascii=False, indent=1)
            buffer.write("\n")
        else:
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(EXPORT_COLUMNS)
            for entry in result:
                row = _row(entry)
                writer.writerow([_csv_cell(row[c]) for c in EXPORT_COLUMNS])
    finally:
        result.close()
    return buffer.getvalue()
