"""Sensitive columns are encrypted at rest: no plaintext canary in the SQLite files or in a
PostgreSQL dump; phone and Telegram-id lookups work through keyed hashes; keys rotate by CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, select, text

from portal.accounts.models import ChannelIdentity
from portal.cases.models import Case, CaseContact
from portal.privacy.crypto import identity_lookup_hash, phone_lookup_hash
from tests.privacy.conftest import (
    CANARY_ADDRESS,
    CANARY_ID_NUMBER,
    CANARY_NAME,
    CANARY_PHONE,
    CANARY_TELEGRAM_ID,
)

CANARIES = (CANARY_PHONE, CANARY_ID_NUMBER, CANARY_NAME, CANARY_ADDRESS, CANARY_TELEGRAM_ID)


def _database_bytes(app: Any, db_url: str) -> bytes:
    app.extensions["db"].dispose()  # checkpoint nothing, just release the files
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        return b"".join(
            p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
        )
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:  # pragma: no cover - the machines have it
        pytest.fail("pg_dump is required for the PostgreSQL plaintext check")
    dump = subprocess.run(
        [
            pg_dump,
            "--data-only",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            url.database or "",
        ],
        check=True,
        capture_output=True,
    )
    return dump.stdout


def test_no_plaintext_canary_in_the_database(app, session, db_url, canary_case, make_user) -> None:  # type: ignore[no-untyped-def]
    resident = make_user()
    session.add(
        ChannelIdentity(user_id=resident.id, channel="telegram", external_id=CANARY_TELEGRAM_ID)
    )
    session.commit()
    # The application reads the values back in clear (the type decrypts).
    session.expire_all()
    case = session.get(Case, canary_case.id)
    assert case.contact.phone == CANARY_PHONE and case.address_text == CANARY_ADDRESS
    assert CANARY_PHONE in case.text_raw
    # Raw storage holds ciphertext only.
    stored = session.execute(text("SELECT phone, name FROM case_contacts")).one()
    assert all(value.startswith("enc:v1:t1:") for value in stored)
    dump = _database_bytes(app, db_url)
    assert b"enc:v1:t1:" in dump  # the check looks at the right data
    for canary in CANARIES:
        assert canary.encode() not in dump, f"plaintext {canary!r} found in the database"


def test_lookups_by_keyed_hash(session, canary_case, make_user) -> None:  # type: ignore[no-untyped-def]
    found = session.scalar(
        select(CaseContact).where(CaseContact.phone_hash == phone_lookup_hash("139 8765-4321"))
    )
    assert found is not None and found.case_id == canary_case.id
    assert phone_lookup_hash("+86 13987654321") == found.phone_hash
    resident = make_user()
    session.add(ChannelIdentity(user_id=resident.id, channel="telegram", external_id="42"))
    session.commit()
    identity = session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.external_id_hash == identity_lookup_hash("telegram", "42")
        )
    )
    assert identity is not None and identity.user_id == resident.id
    # Equal plaintexts give different ciphertexts: the hash column is the only way to match.
    raw = session.execute(
        text("SELECT external_id, external_id_hash FROM channel_identities")
    ).one()
    assert raw[0] != "42" and raw[1] == identity_lookup_hash("telegram", "42")


def _file_keyed_app(tmp_path: Path, db_url: str) -> Any:
    from portal import create_app

    return create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "test",
            "DATABASE_URL": db_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_key_rotation_by_cli_without_losing_data(db_url: str, tmp_path: Path) -> None:
    """rotate → (restart) → reencrypt → retire the old key; reads work at every step."""
    from portal import get_session
    from portal.accounts.models import User

    first = _file_keyed_app(tmp_path, db_url)
    with first.app_context():
        session = get_session()
        user = User(display_name="r")
        session.add(user)
        session.flush()
        for n in range(7):
            session.add(ChannelIdentity(user_id=user.id, channel="telegram", external_id=str(n)))
        session.add(
            Case(
                tracking_number="LJ-1",
                status="closed",
                text_raw=f"电话{CANARY_PHONE}",
                text_masked="电话[电话]",
                title="t",
            )
        )
        session.commit()
        runner = first.test_cli_runner()
        rotated = runner.invoke(args=["keys", "rotate"])
        assert rotated.exit_code == 0, rotated.output
    keys = json.loads((tmp_path / "instance" / "keys.json").read_text())
    assert keys["active"] == "k2" and set(keys["keys"]) == {"k1", "k2"}
    first.extensions["db"].dispose()

    second = _file_keyed_app(tmp_path, db_url)  # the restarted workers
    with second.app_context():
        runner = second.test_cli_runner()
        refused = runner.invoke(args=["keys", "retire", "k1"])
        assert refused.exit_code != 0 and "reencrypt" in refused.output
        done = runner.invoke(args=["keys", "reencrypt", "--batch-size", "3"])
        assert done.exit_code == 0 and "re-encrypted 8 values under k2" in done.output, done.output
        again = runner.invoke(args=["keys", "reencrypt"])
        assert "re-encrypted 0 values" in again.output
        status = runner.invoke(args=["keys", "status"])
        assert "k2 (active): 8 values" in status.output and "k1: 0 values" in status.output
        retired = runner.invoke(args=["keys", "retire", "k1"])
        assert retired.exit_code == 0, retired.output
    second.extensions["db"].dispose()
    assert set(json.loads((tmp_path / "instance" / "keys.json").read_text())["keys"]) == {"k2"}

    third = _file_keyed_app(tmp_path, db_url)
    with third.app_context():
        session = get_session()
        assert session.scalar(select(Case.text_raw)) == f"电话{CANARY_PHONE}"
        assert sorted(session.scalars(select(ChannelIdentity.external_id))) == [
            str(n) for n in range(7)
        ]
        actions = (
            session.execute(text("SELECT action FROM audit_entries ORDER BY id")).scalars().all()
        )
        assert actions == ["key_rotated", "keys_reencrypted", "keys_reencrypted", "key_retired"]
    third.extensions["db"].dispose()


def test_counting_rows_under_a_key_takes_its_id_literally(session, canary_case) -> None:  # type: ignore[no-untyped-def]
    """Key ids may contain "_": it must not act as a LIKE wildcard (k_1 is not kx1)."""
    from sqlalchemy import text

    from portal.privacy.keys import count_under_key

    before = count_under_key(session, "kx1")
    session.execute(
        text("UPDATE case_contacts SET phone = :raw WHERE case_id = :id"),
        {"raw": "enc:v1:kx1:AAAA", "id": canary_case.id},
    )
    assert count_under_key(session, "kx1") == before + 1
    assert count_under_key(session, "k_1") == 0
    session.rollback()
