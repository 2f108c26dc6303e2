"""Data key rotation without downtime: add a key, re-encrypt rows in small batches, retire.

1. ``keys rotate`` adds a key and makes it active (in ``<instance>/keys.json``, or prints the new
   ``SHUZHI_DATA_KEYS`` value when keys come from the environment). Restart the workers one by one:
   new writes use the new key, every old key stays readable.
2. ``keys reencrypt`` rewrites every sensitive value not under the active key, a batch per
   transaction; a row changed meanwhile by the application is left alone (compare-and-set on the
   stored ciphertext) and picked up by the next run.
3. ``keys retire KID`` removes a key once no stored value uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Row, Select, Table, Text, func, literal, select, type_coerce, update
from sqlalchemy.orm import Session

from portal.db import Base
from portal.privacy.crypto import (
    PREFIX,
    EncryptedText,
    KeyRing,
    KeyRingError,
    is_ciphertext,
    new_key,
    new_kid,
    read_key_file,
    split_ciphertext,
    write_key_file,
)


def encrypted_columns() -> list[tuple[Table, Column[str]]]:
    """Every ``EncryptedText`` column of the schema, as (table, column)."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedText):
                found.append((table, column))
    return found


def _raw(column: Column[str]) -> object:
    return type_coerce(column, Text)


def key_usage(session: Session) -> dict[str, int]:
    """How many stored values each key id protects (``"plaintext"``: not yet encrypted)."""
    usage: dict[str, int] = {}
    for _table, column in encrypted_columns():
        rows = session.execute(select(_raw(column)).where(column.is_not(None)))
        for (stored,) in rows:
            kid = split_ciphertext(stored)[0] if is_ciphertext(stored) else "plaintext"
            usage[kid] = usage.get(kid, 0) + 1
    return usage


def count_under_key(session: Session, kid: str) -> int:
    total = 0
    for _table, column in encrypted_columns():
        raw = type_coerce(column, Text)
        prefix = f"{PREFIX}{kid}:"  # compared as a string: "_" in a key id is no LIKE wildcard
        total += (
            session.scalar(select(func.count()).where(func.substr(raw, 1, len(prefix)) == prefix))
            or 0
        )
    return total


@dataclass
class ReencryptReport:
    rewritten: int = 0
    skipped_changed: int = 0
    batches: int = 0


def keyset_batches(
    session: Session, stmt: Select[Any], pk: Column[Any], batch_size: int
) -> Iterator[Sequence[Row[Any]]]:
    """The rows of ``stmt`` (whose first column is ``pk``) by pk order, ``batch_size`` at a time.

    The read transaction ends after each batch: writes happen batch by batch."""
    last = None
    while True:
        page = stmt.order_by(pk).limit(batch_size)
        if last is not None:
            page = page.where(pk > last)
        rows = session.execute(page).all()
        session.rollback()
        if not rows:
            return
        last = rows[-1][0]
        yield rows


def _batches(
    session: Session, table: Table, column: Column[str], active: str, batch_size: int
) -> Iterator[list[tuple[int, str]]]:
    pk = table.primary_key.columns.values()[0]
    stmt = select(pk, _raw(column)).where(column.is_not(None))
    for rows in keyset_batches(session, stmt, pk, batch_size):
        todo = [
            (row_id, stored)
            for row_id, stored in rows
            if not (is_ciphertext(stored) and split_ciphertext(stored)[0] == active)
        ]
        if todo:
            yield todo


def reencrypt(
    session_factory: Callable[[], Session],
    ring: KeyRing,
    *,
    batch_size: int = 500,
    on_batch: Callable[[int], None] | None = None,
) -> ReencryptReport:
    """Rewrite every value not under the active key; one transaction per batch."""
    report = ReencryptReport()
    for table, column in encrypted_columns():
        pk = table.primary_key.columns.values()[0]
        with session_factory() as reader:
            for batch in _batches(reader, table, column, ring.active, batch_size):
                with session_factory() as writer:
                    for row_id, stored in batch:
                        aad = column.type.aad  # type: ignore[attr-defined]
                        plain = ring.decrypt(stored, aad=aad) if is_ciphertext(stored) else stored
                        result = writer.execute(
                            update(table)
                            .where(pk == row_id, _raw(column) == stored)
                            .values({column.name: literal(ring.encrypt(plain, aad=aad), Text)})
                            .execution_options(synchronize_session=False)
                        )
                        if result.rowcount == 1:
                            report.rewritten += 1
                        else:
                            report.skipped_changed += 1
                    writer.commit()
                report.batches += 1
                if on_batch:
                    on_batch(len(batch))
    return report


def rotate_key_file(path: Path) -> str:
    """Add a new active key to the key file; returns its id."""
    content = read_key_file(path)
    kid = new_kid(content["keys"])
    content["keys"][kid] = new_key()
    content["active"] = kid
    write_key_file(path, content)
    return kid


def retire_key(session: Session, ring: KeyRing, kid: str) -> None:
    """Remove ``kid`` from the key file; refused while it is active or still protects values."""
    if kid not in ring.keys:
        raise KeyRingError(f"no key {kid!r} in the key ring")
    if kid == ring.active:
        raise KeyRingError(f"{kid!r} is the active key; rotate first")
    remaining = count_under_key(session, kid)
    if remaining:
        raise KeyRingError(f"{remaining} stored values still use {kid!r}; run `keys reencrypt`")
    if ring.source == "settings":
        raise KeyRingError(
            f"keys come from SHUZHI_DATA_KEYS: remove {kid!r} from it and restart (nothing uses it)"
        )
    path = Path(ring.source)
    content = read_key_file(path)
    content["keys"].pop(kid, None)
    write_key_file(path, content)
