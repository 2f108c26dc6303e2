"""Audit models: the append-only ``AuditEntry`` log and the one-row chain head that serialises appends.

Nothing in the application may change or delete an ``AuditEntry``: a ``before_flush`` hook and a
``do_orm_execute`` hook (registered on import, for every ``Session``) refuse it. The database-level
protection (revoking UPDATE/DELETE from the application role) is described in the README.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, event
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

from portal.db import Base, UTCDateTime

#: ``prev_hash`` of the first entry.
GENESIS_HASH = "0" * 64
#: The id of the single ``AuditChainHead`` row.
CHAIN_HEAD_ID = 1


class AuditEntry(Base):
    """One audited action. ``hash`` commits to every field and to the previous entry's hash.

    ``id`` is assigned by :func:`portal.audit.services.record_audit` (head + 1) under the chain
    lock, so ids have no gaps: a missing id is a deleted entry.
    """

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no FK: survives erasure
    actor_label: Mapped[str] = mapped_column(String(120))  # level: internal
    action: Mapped[str] = mapped_column(String(40), index=True)
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[Any | None] = mapped_column(JSON)  # level: internal (never sensitive values)
    after: Mapped[Any | None] = mapped_column(JSON)  # level: internal
    reason: Mapped[str | None] = mapped_column(Text)  # level: internal
    ip: Mapped[str | None] = mapped_column(String(45))  # level: internal
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The last entry's id and hash. Locked (``FOR UPDATE`` / SQLite's write lock) by each append,
    and checked by ``verify_chain`` so that deleting the newest entries is detected too."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_entry_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class AuditLogImmutable(RuntimeError):
    """Raised when application code tries to change or delete an audit entry."""


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, AuditEntry):
            raise AuditLogImmutable("audit entries cannot be deleted")
    for obj in session.dirty:
        if isinstance(obj, AuditEntry) and session.is_modified(obj):
            raise AuditLogImmutable("audit entries cannot be modified")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_audit_changes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    for mapper in state.all_mappers:
        if mapper.class_ is AuditEntry:
            raise AuditLogImmutable("audit entries cannot be modified or deleted")
