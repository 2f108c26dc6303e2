"""Lookup-hash key rotation without downtime: add a hash key, re-hash rows, retire the old key.

Every stored lookup hash says which hash key made it (``<kid>:<hex>``; bare hex is ``h1``), and
lookups match a hash under any key of the ring, so a rotation never orphans a hash:

1. ``keys rotate --hash`` adds a hash key and makes it active; restart the workers one by one.
   New and updated rows are hashed under the new key; old hashes keep matching.
2. ``keys rehash`` recomputes, from the decrypted values, every hash not under the active key, a
   batch per transaction (compare-and-set on the stored hash: a row the application changed
   meanwhile is left to it). A resident's channel identity is also re-hashed on its next
   successful lookup (``refresh_stale_hash``).
3. ``keys retire --hash KID`` removes the key once no hash uses it (``--force`` to break the
   remaining links anyway; ``keys rehash`` can mend them later, from the encrypted values).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Table,
    Text,
    func,
    inspect,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.db import Base
from portal.privacy.crypto import (
    HASH_HEX_CHARS,
    HASH_VALUES,
    LEGACY_HASH_KID,
    KeyRing,
    KeyRingError,
    is_ciphertext,
    new_key,
    new_kid,
    read_key_file,
    write_key_file,
)
from portal.privacy.keys import keyset_batches


@dataclass(frozen=True)
class HashedColumn:
    """A lookup-hash column and how to recompute it from the row's (encrypted) plaintext."""

    label: str  # "table.column"
    table: Table
    hash_column: Column[str]
    purpose: str
    #: Columns read raw (ciphertext) besides the primary key; their AADs are ``table.column``.
    sources: tuple[Column[str], ...]
    #: What a hash of this column makes possible, for the retire warning.
    meaning: str

    def value(self, plain: tuple[str | None, ...]) -> str | None:
        """The value hashed for a row with these source plaintexts (None: no hash)."""
        return HASH_VALUES[self.purpose](*plain)  # type: ignore[no-any-return]


def hashed_columns() -> list[HashedColumn]:
    """Every lookup-hash column of the schema: those declared with
    ``info=portal.privacy.crypto.lookup_hash_column(...)``."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            spec = column.info.get("lookup_hash")
            if spec is None:
                continue
            found.append(
                HashedColumn(
                    label=f"{table.name}.{column.name}",
                    table=table,
                    hash_column=column,
                    purpose=spec["purpose"],
                    sources=tuple(table.c[name] for name in spec["sources"]),
                    meaning=spec["meaning"],
                )
            )
    return found


def _stored(column: Column[str]) -> ColumnElement[bool]:
    """Rows that hold a hash (an empty string is no hash)."""
    return column.is_not(None) & (column != "")


def _raw(column: Column[Any]) -> ColumnElement[Any]:
    """The column as stored (ciphertext, not decrypted by ``EncryptedText``)."""
    return type_coerce(column, Text)


def under_key(column: Column[str], kid: str) -> ColumnElement[bool]:
    """Stored hashes made under hash key ``kid`` (bare 64-hex values are the legacy ``h1``)."""
    prefixed = func.substr(column, 1, len(kid) + 1) == f"{kid}:"
    if kid == LEGACY_HASH_KID:
        return or_(func.length(column) == HASH_HEX_CHARS, prefixed)
    return prefixed


def _canonical_under(column: Column[str], kid: str) -> ColumnElement[bool]:
    """Stored hashes in the exact form the ring writes for ``kid`` (``h1``: bare hex)."""
    if kid == LEGACY_HASH_KID:
        return func.length(column) == HASH_HEX_CHARS
    return func.substr(column, 1, len(kid) + 1) == f"{kid}:"


# --- status and retirement ----------------------------------------------------------------------


def hash_usage(session: Session, ring: KeyRing) -> dict[str, dict[str, int]]:
    """Per hash column, how many stored hashes each hash key id made. Ids outside the ring are
    counted too (the legacy ``h1`` by name, any other as ``"unknown"``)."""
    usage: dict[str, dict[str, int]] = {}
    kids = sorted(set(ring.hash_keys) | {LEGACY_HASH_KID})
    for spec in hashed_columns():
        column = spec.hash_column
        counts: dict[str, int] = {}
        total = session.scalar(select(func.count()).where(_stored(column))) or 0
        for kid in kids:
            n = session.scalar(select(func.count()).where(under_key(column, kid))) or 0
            if n or kid in ring.hash_keys:
                counts[kid] = n
        unknown = total - sum(counts.values())
        if unknown:
            counts["unknown"] = unknown
        usage[spec.label] = counts
    return usage


def not_under_active(usage: dict[str, dict[str, int]], ring: KeyRing) -> int:
    """How many stored hashes ``keys rehash`` (or a lookup) still has to move to the active key."""
    return sum(
        n for counts in usage.values() for kid, n in counts.items() if kid != ring.hash_active
    )


def rotate_hash_key_file(path: Path) -> str:
    """Add a new active hash key to the key file (a file's single ``hash_key`` becomes ``h1``)."""
    content = read_key_file(path)
    ring_of_hashes = dict(content.get("hash_keys") or {})
    if "hash_key" in content:
        ring_of_hashes.setdefault(LEGACY_HASH_KID, content.pop("hash_key"))
    kid = new_kid(ring_of_hashes, prefix="h")
    ring_of_hashes[kid] = new_key()
    content["hash_keys"] = ring_of_hashes
    content["hash_active"] = kid
    write_key_file(path, content)
    return kid


def retire_hash_key(session: Session, ring: KeyRing, kid: str, *, force: bool = False) -> int:
    """Remove hash key ``kid`` from the key file; returns how many hashes still used it.

    Refused while it is the active hash key, and while stored hashes use it unless ``force``
    (those rows stop matching lookups until ``keys rehash`` recomputes them).
    """
    if kid not in ring.hash_keys:
        raise KeyRingError(
            f"no hash key {kid!r} in the hash key ring ({', '.join(sorted(ring.hash_keys))})"
        )
    if kid == ring.hash_active:
        raise KeyRingError(f"{kid!r} is the active hash key; `keys rotate --hash` first")
    specs = {spec.label: spec for spec in hashed_columns()}
    left = {label: counts.get(kid, 0) for label, counts in hash_usage(session, ring).items()}
    remaining = sum(left.values())
    if remaining and not force:
        detail = "; ".join(
            f"{n} in {label}: {specs[label].meaning}" for label, n in left.items() if n
        )
        raise KeyRingError(
            f"{remaining} stored hashes still use {kid!r} and would stop matching ({detail}). "
            "Run `keys rehash` first, or retire with --force and run `keys rehash` after."
        )
    if ring.source == "settings":
        where = "SHUZHI_DATA_HASH_KEYS"
        if kid == LEGACY_HASH_KID and ring.legacy_hash_key:
            where = "SHUZHI_DATA_HASH_KEY (unset it)"
        raise KeyRingError(
            f"hash keys come from the settings: remove {kid!r} from {where} and restart"
            + (f" ({remaining} hashes still use it)" if remaining else " (nothing uses it)")
        )
    path = Path(ring.source)
    content = read_key_file(path)
    ring_of_hashes = dict(content.get("hash_keys") or {})
    ring_of_hashes.pop(kid, None)
    if kid == LEGACY_HASH_KID:
        content.pop("hash_key", None)
    content["hash_keys"] = ring_of_hashes
    content["hash_active"] = ring.hash_active
    write_key_file(path, content)
    return remaining


# --- re-hashing ---------------------------------------------------------------------------------


@dataclass
class RehashReport:
    rehashed: int = 0
    skipped_changed: int = 0
    #: Rows whose fresh hash another row already holds (a duplicate identity): left as they are.
    conflicts: list[str] = field(default_factory=list)
    batches: int = 0


def _plaintext(ring: KeyRing, column: Column[str], stored: str | None) -> str | None:
    if stored is None or not is_ciphertext(stored):
        return stored
    return ring.decrypt(stored, aad=f"{column.table.name}.{column.name}")


def _batches(
    session: Session, spec: HashedColumn, active: str, batch_size: int
) -> Iterator[list[tuple[Any, str, str | None]]]:
    """(primary key, stored hash, fresh hash) of rows not under the active key, by pk order."""
    ring_kid_filter = _canonical_under(spec.hash_column, active)
    pk = spec.table.primary_key.columns.values()[0]
    stmt = select(pk, spec.hash_column, *(_raw(c) for c in spec.sources)).where(
        _stored(spec.hash_column), ~ring_kid_filter
    )
    for rows in keyset_batches(session, stmt, pk, batch_size):
        yield [(row[0], row[1], row[2:]) for row in rows]  # type: ignore[misc]


def rehash(
    session_factory: Callable[[], Session],
    ring: KeyRing,
    *,
    batch_size: int = 500,
    on_batch: Callable[[int], None] | None = None,
) -> RehashReport:
    """Recompute every lookup hash not under the active hash key; one transaction per batch.

    Safe to interrupt and run again: committed batches stay, the next run starts with the rows
    still under an old key.
    """
    report = RehashReport()
    for spec in hashed_columns():
        pk = spec.table.primary_key.columns.values()[0]
        with session_factory() as reader:
            for batch in _batches(reader, spec, ring.hash_active, batch_size):
                todo = []
                for row_id, stored, raw in batch:
                    plain = tuple(
                        _plaintext(ring, column, value)
                        for column, value in zip(spec.sources, raw, strict=True)
                    )
                    target = spec.value(plain)
                    if target is None and not spec.hash_column.nullable:
                        continue  # nothing to hash and no NULL allowed: leave the row as it is
                    fresh = ring.lookup_hash(target, purpose=spec.purpose) if target else None
                    todo.append((row_id, stored, fresh))
                _write_batch(session_factory, spec, pk, todo, report)
                report.batches += 1
                if on_batch:
                    on_batch(len(todo))
    return report


def _write_batch(
    session_factory: Callable[[], Session],
    spec: HashedColumn,
    pk: Column[Any],
    todo: list[tuple[Any, str, str | None]],
    report: RehashReport,
) -> None:
    def apply(writer: Session, row_id: Any, stored: str, fresh: str | None) -> bool:
        result = writer.execute(
            update(spec.table)
            .where(pk == row_id, spec.hash_column == stored)
            .values({spec.hash_column.name: fresh})
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    try:
        with session_factory() as writer:
            done = [apply(writer, *row) for row in todo]
            writer.commit()
    except IntegrityError:
        # A fresh hash collides with a row already under the active key: redo row by row so
        # the rest of the batch is not held back by it.
        done = []
        for row_id, stored, fresh in todo:
            with session_factory() as writer:
                try:
                    done.append(apply(writer, row_id, stored, fresh))
                    writer.commit()
                except IntegrityError:
                    writer.rollback()
                    report.conflicts.append(f"{spec.table.name} #{row_id}")
    report.rehashed += sum(done)
    report.skipped_changed += len(done) - sum(done)


def refresh_stale_hash(session: Session, instance: Any, attribute: str, fresh: str) -> bool:
    """Lazy re-hash after a successful lookup: store ``fresh`` (the active key's hash) in place
    of a hash made under an older key. Compare-and-set in a savepoint; a row that changed
    meanwhile or a duplicate holding ``fresh`` already leaves everything as it was."""
    stored = getattr(instance, attribute)
    if stored == fresh:
        return False
    mapper = inspect(instance).mapper
    pk_column = mapper.primary_key[0]
    column = mapper.columns[attribute]
    try:
        with session.begin_nested():
            result = session.execute(
                update(mapper.local_table)
                .where(pk_column == inspect(instance).identity[0], column == stored)
                .values({column.name: fresh})
            )
    except IntegrityError:
        return False
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    set_committed_value(instance, attribute, fresh)
    return True
