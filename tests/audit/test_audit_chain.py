"""The audit trail's hash chain: appends, verification, tamper detection, immutability, fail-closed."""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

import pytest
from sqlalchemy import select, text, update

from portal.audit.models import GENESIS_HASH, AuditEntry, AuditLogImmutable
from portal.audit.services import entry_hash, record_audit, verify_chain


def _append(session: Any, n: int, actor: Any = "test") -> list[AuditEntry]:
    entries = [
        record_audit(
            session,
            actor=actor,
            action="settings_updated",
            target_type="settings",
            before={"verdict_days": i},
            after={"verdict_days": i + 1, "note": "中文 ✓"},
            reason=f"step {i}",
            ip="127.0.0.1",
        )
        for i in range(n)
    ]
    session.commit()
    return entries


def test_entries_link_into_a_chain_that_verifies(session: Any, make_user: Any) -> None:
    admin = make_user(role="admin")
    entries = _append(session, 4, actor=admin)
    assert [e.id for e in entries] == [1, 2, 3, 4]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert entries[0].actor_id == admin.id and admin.display_name in entries[0].actor_label
    session.expire_all()
    stored = session.get(AuditEntry, 2)
    assert stored is not None and stored.after == {"verdict_days": 2, "note": "中文 ✓"}
    assert entry_hash(_fields(stored)) == stored.hash  # round trip through the column types
    result = verify_chain(session)
    assert result.ok and result.checked == 4 and result.first_broken_id is None


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {c: getattr(entry, c) for c in (col.name for col in AuditEntry.__table__.columns)}


def test_an_empty_log_verifies(session: Any) -> None:
    result = verify_chain(session)
    assert result.ok and result.checked == 0


@pytest.mark.parametrize(
    ("sql", "broken_id"),
    [
        ("UPDATE audit_entries SET reason = 'nothing to see' WHERE id = 3", 3),
        ("UPDATE audit_entries SET actor_label = 'someone else' WHERE id = 1", 1),
        ("UPDATE audit_entries SET after = NULL WHERE id = 4", 4),
        ("UPDATE audit_entries SET at = at WHERE id = 2", None),  # a no-op stays valid
    ],
)
def test_a_modified_entry_is_reported(session: Any, sql: str, broken_id: int | None) -> None:
    _append(session, 5)
    session.execute(text(sql))
    session.commit()
    result = verify_chain(session)
    if broken_id is None:
        assert result.ok
    else:
        assert not result.ok
        assert result.first_broken_id == broken_id
        assert result.checked == broken_id - 1
        assert "modified" in (result.reason or "") and result.kind == "modified"


def test_recomputing_a_modified_entrys_hash_breaks_the_next_link(session: Any) -> None:
    entries = _append(session, 4)
    forged = _fields(entries[1]) | {"reason": "forged"}
    forged["hash"] = entry_hash(forged)
    session.execute(
        text("UPDATE audit_entries SET reason = 'forged', hash = :h WHERE id = 2"),
        {"h": forged["hash"]},
    )
    session.commit()
    result = verify_chain(session)
    assert not result.ok and result.first_broken_id == 3
    assert "link" in (result.reason or "") and result.kind == "unlinked"


def test_a_deleted_entry_is_reported(session: Any) -> None:
    _append(session, 5)
    session.execute(text("DELETE FROM audit_entries WHERE id = 2"))
    session.commit()
    result = verify_chain(session)
    assert not result.ok and result.first_broken_id == 2
    assert "missing" in (result.reason or "") and result.kind == "missing"


def test_deleting_the_newest_entries_is_reported(session: Any) -> None:
    _append(session, 5)
    session.execute(text("DELETE FROM audit_entries WHERE id >= 4"))
    session.commit()
    result = verify_chain(session)
    assert not result.ok and result.first_broken_id == 4 and result.checked == 3
    assert result.kind == "missing"


def test_the_application_cannot_modify_or_delete_entries(session: Any) -> None:
    entry = _append(session, 2)[0]
    entry.reason = "rewritten"
    with pytest.raises(AuditLogImmutable):
        session.flush()
    session.rollback()
    session.delete(session.get(AuditEntry, 1))
    with pytest.raises(AuditLogImmutable):
        session.flush()
    session.rollback()
    with pytest.raises(AuditLogImmutable):
        session.execute(update(AuditEntry).values(reason="bulk rewrite"))
    session.rollback()
    session.rollback()
    assert verify_chain(session).ok


def test_values_are_stored_as_json_and_sensitive_fields_are_not_required(session: Any) -> None:
    entry = record_audit(session, actor=None, action="login_failed", after={"n": {1, 2}})
    session.commit()
    assert entry.actor_label == "anonymous" and entry.actor_id is None
    assert json.dumps(entry.after) == '{"n": [1, 2]}'
    assert verify_chain(session).ok


def test_concurrent_appends_keep_one_valid_chain(app: Any, session: Any) -> None:
    """Threads appending at once (PostgreSQL: row lock on the chain head; SQLite: write lock)."""
    database = app.extensions["db"]
    threads_n, per_thread = 8, 12
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        own = database.session_factory()
        try:
            barrier.wait()
            for i in range(per_thread):
                record_audit(own, actor=f"worker {n}", action="export", after={"i": i})
                own.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = verify_chain(session)
    assert result.ok and result.checked == threads_n * per_thread
    ids = session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)).all()
    assert ids == list(range(1, threads_n * per_thread + 1))


def test_residents_are_recorded_by_id_only_officials_by_name(session: Any, make_user: Any) -> None:
    resident = make_user(role="resident", display_name="Resident Canary Zhang")
    clerk = make_user(role="coordinator", display_name="Coordinator Liu")
    first = record_audit(session, actor=resident, action="login")
    second = record_audit(session, actor=clerk, action="login")
    session.commit()
    assert first.actor_label == f"user #{resident.id} (resident)"
    assert "Canary" not in first.actor_label and first.actor_id == resident.id
    assert second.actor_label == "Coordinator Liu (coordinator)"
