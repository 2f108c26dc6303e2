"""The lookup-hash key rotates without orphaning a hash: lookups match under every key of the
ring, ``keys rehash`` moves stored hashes to the active key (batched, re-run safe), a resident's
identity moves on its next lookup, ``keys status`` counts what is left and ``keys retire --hash``
refuses while links would break. Configuration mistakes get one clear message."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from portal.accounts.models import ChannelIdentity, User
from portal.cases.models import Case, CaseContact
from portal.privacy.crypto import (
    LEGACY_HASH_KID,
    KeyRing,
    KeyRingError,
    hash_kid,
    load_key_ring,
    phone_lookup_hashes,
)
from tests.conftest import TEST_DATA_KEYS

H1 = TEST_DATA_KEYS["DATA_HASH_KEY"]
H2 = base64.b64encode(b"second lookup hash key, 32 bytes").decode()
DATA_KEYS = {k: v for k, v in TEST_DATA_KEYS.items() if k != "DATA_HASH_KEY"}
#: Before the rotation: the single hash key of old (h1).
OLD_KEYS = dict(TEST_DATA_KEYS)
#: After the rotation: h1 kept for lookups, h2 active.
NEW_KEYS = {
    **DATA_KEYS,
    "DATA_HASH_KEYS": json.dumps({"h1": H1, "h2": H2}),
    "DATA_HASH_KEY_ACTIVE": "h2",
}
#: Once every hash moved: h1 gone.
LAST_KEYS = {**DATA_KEYS, "DATA_HASH_KEYS": json.dumps({"h2": H2})}


def _app(db_url: str, tmp_path: Path, keys: dict[str, str] | None) -> Flask:
    from portal import create_app

    return create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "test",
            "DATABASE_URL": db_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "RATELIMIT_STORAGE_URI": "memory://",
            "RATELIMIT_ENABLED": False,
            **(keys or {}),
        }
    )


@contextmanager
def running(db_url: str, tmp_path: Path, keys: dict[str, str] | None) -> Iterator[Flask]:
    """An app (a worker after a restart with these keys), its context pushed."""
    app = _app(db_url, tmp_path, keys)
    try:
        with app.app_context():
            yield app
    finally:
        app.extensions["db"].dispose()


def _session() -> Any:
    from portal import get_session

    return get_session()


def _raw_hashes(table: str, column: str) -> list[str]:
    return list(_session().execute(text(f"SELECT {column} FROM {table} ORDER BY id")).scalars())


def _seed(count: int) -> None:
    """``count`` Telegram residents and ``count`` cases with a contact phone, committed."""
    from portal.api.services import resolve_channel_resident

    session = _session()
    for n in range(count):
        resolve_channel_resident(session, channel="telegram", external_id=str(9000 + n))
        case = Case(
            tracking_number=f"LJ-{n}",
            status="submitted",
            text_raw="路灯坏了",
            text_masked="路灯坏了",
            title="t",
        )
        session.add(case)
        session.flush()
        session.add(CaseContact(case_id=case.id, name="王", phone=f"139 0000 {n:04d}"))
    session.commit()


def _audit_actions() -> list[str]:
    return list(_session().execute(text("SELECT action FROM audit_entries ORDER BY id")).scalars())


# --- the ring itself (no database) --------------------------------------------------------------


def _ring(**settings: str) -> KeyRing:
    return load_key_ring({"ENV": "production", **settings})


def test_hashes_name_their_key_and_lookups_try_every_key() -> None:
    old, new = _ring(**OLD_KEYS), _ring(**NEW_KEYS)
    stored = old.lookup_hash("13900001234", purpose="phone")
    assert len(stored) == 64 and ":" not in stored  # h1 writes bare hex, as before
    assert hash_kid(stored) == LEGACY_HASH_KID
    fresh = new.lookup_hash("13900001234", purpose="phone")
    assert fresh.startswith("h2:") and hash_kid(fresh) == "h2" and fresh != stored
    assert new.lookup_hashes("13900001234", purpose="phone") == (fresh, stored)
    assert old.lookup_hashes("13900001234", purpose="phone") == (stored,)
    # Domain separation and the key both matter.
    assert new.lookup_hash("1", purpose="phone") != new.lookup_hash("1", purpose="telegram")
    assert _ring(**LAST_KEYS).lookup_hashes("13900001234", purpose="phone") == (fresh,)


def test_the_single_hash_key_of_old_is_h1_beside_the_new_ring() -> None:
    both = _ring(**OLD_KEYS, DATA_HASH_KEYS=json.dumps({"h2": H2}), DATA_HASH_KEY_ACTIVE="h2")
    assert set(both.hash_keys) == {"h1", "h2"} and both.hash_active == "h2"
    assert both.legacy_hash_key
    assert both.lookup_hashes("x", purpose="p") == _ring(**NEW_KEYS).lookup_hashes("x", purpose="p")
    # Default active hash key: the last id, as for data keys.
    assert _ring(**DATA_KEYS, DATA_HASH_KEYS=json.dumps({"h1": H1, "h2": H2})).hash_active == "h2"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({**DATA_KEYS}, "SHUZHI_DATA_HASH_KEYS \\(or SHUZHI_DATA_HASH_KEY\\) is required"),
        ({**DATA_KEYS, "DATA_HASH_KEYS": "{h2: nope"}, "SHUZHI_DATA_HASH_KEYS is not valid JSON"),
        ({**DATA_KEYS, "DATA_HASH_KEYS": '["h2"]'}, "SHUZHI_DATA_HASH_KEYS must be a JSON object"),
        (
            {**DATA_KEYS, "DATA_HASH_KEYS": json.dumps({"h2": "not base64!"})},
            "lookup hash key 'h2' is not valid base64",
        ),
        (
            {
                **DATA_KEYS,
                "DATA_HASH_KEYS": json.dumps({"h2": base64.b64encode(b"short").decode()}),
            },
            "lookup hash key 'h2' must be at least 32 bytes",
        ),
        (
            {**DATA_KEYS, "DATA_HASH_KEYS": json.dumps({"h 2": H2})},
            "invalid hash key id 'h 2'",
        ),
        (
            {**NEW_KEYS, "DATA_HASH_KEY_ACTIVE": "h3"},
            "active hash key 'h3' is not in the hash key ring \\(h1, h2\\)",
        ),
        (
            {**OLD_KEYS, "DATA_HASH_KEYS": json.dumps({"h1": H2})},
            "SHUZHI_DATA_HASH_KEY is the hash key 'h1', but SHUZHI_DATA_HASH_KEYS gives 'h1' "
            "another value",
        ),
        (
            {**OLD_KEYS, "DATA_HASH_KEY_ACTIVE": "h1"},
            "SHUZHI_DATA_HASH_KEY_ACTIVE is set but SHUZHI_DATA_HASH_KEYS is not",
        ),
    ],
)
def test_hash_key_configuration_errors_say_what_to_fix(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(KeyRingError, match=message):
        _ring(**settings)


def test_hash_keys_without_data_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="SHUZHI_DATA_HASH_KEYS set without SHUZHI_DATA_KEYS"):
        load_key_ring(
            {"ENV": "development", "INSTANCE_PATH": str(tmp_path), "DATA_HASH_KEYS": "{}x"}
        )
    with pytest.raises(KeyRingError, match="SHUZHI_DATA_HASH_KEYS \\(or SHUZHI_DATA_HASH_KEY\\)"):
        load_key_ring({"ENV": "production", "INSTANCE_PATH": str(tmp_path)})


def test_a_bad_hash_key_stops_the_app_with_the_message(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="not in the hash key ring"):
        _app("sqlite://", tmp_path, {**NEW_KEYS, "DATA_HASH_KEY_ACTIVE": "h9"})


# --- across a rotation, on SQLite and PostgreSQL --------------------------------------------------


def test_lookups_match_across_a_rotation(db_url: str, tmp_path: Path) -> None:
    from portal.api.services import find_channel_identity, resolve_channel_resident

    with running(db_url, tmp_path, OLD_KEYS):
        _seed(2)
        before = _raw_hashes("channel_identities", "external_id_hash")
        assert all(len(h) == 64 for h in before)

    with running(db_url, tmp_path, NEW_KEYS):
        session = _session()
        # A phone lookup finds the contact hashed under h1, and one written now under h2.
        old_contact = session.scalar(
            select(CaseContact).where(
                CaseContact.phone_hash.in_(phone_lookup_hashes("13900000001"))
            )
        )
        assert old_contact is not None and old_contact.phone_hash is not None
        assert hash_kid(old_contact.phone_hash) == "h1"
        case = Case(
            tracking_number="LJ-9", status="submitted", text_raw="x", text_masked="x", title="t"
        )
        session.add(case)
        session.flush()
        session.add(CaseContact(case_id=case.id, phone="+86 139-0000-0099"))
        session.commit()
        new_contact = session.scalar(
            select(CaseContact).where(
                CaseContact.phone_hash.in_(phone_lookup_hashes("13900000099"))
            )
        )
        assert new_contact is not None and new_contact.phone_hash.startswith("h2:")
        # The resident of before is the same resident now (no second account made).
        users = session.scalar(select(func.count()).select_from(User))
        user = resolve_channel_resident(session, channel="telegram", external_id="9000")
        session.commit()
        assert session.scalar(select(func.count()).select_from(User)) == users
        assert (
            find_channel_identity(session, channel="telegram", external_id="9000").user_id
            == user.id
        )
        # …and that lookup moved its hash to h2 (lazy re-hash); the other one still waits.
        after = _raw_hashes("channel_identities", "external_id_hash")
        assert after[0].startswith("h2:") and after[1] == before[1]
        assert find_channel_identity(session, channel="telegram", external_id="424242") is None


def test_a_worker_still_on_the_old_release_finds_what_the_new_one_wrote(
    db_url: str, tmp_path: Path
) -> None:
    """Until h2 is made active, the new code writes h1 hashes exactly as the old code did."""
    with running(db_url, tmp_path, {**NEW_KEYS, "DATA_HASH_KEY_ACTIVE": "h1"}):
        _seed(1)
    with running(db_url, tmp_path, OLD_KEYS):
        from portal.api.services import find_channel_identity

        assert find_channel_identity(_session(), channel="telegram", external_id="9000")


def test_the_bot_api_rehashes_a_resident_on_the_next_request(db_url: str, tmp_path: Path) -> None:
    from portal.api.services import create_api_key

    with running(db_url, tmp_path, OLD_KEYS):
        _seed(1)
        secret = create_api_key(_session(), name="bot", scopes=["channel:telegram"]).secret
        _session().commit()
        users = _session().scalar(select(func.count()).select_from(User))
    app = _app(db_url, tmp_path, NEW_KEYS)
    try:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {secret}", "X-Shuzhi-Resident": "telegram:9000"}
        response = client.get("/api/v1/me/cases", headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        with app.app_context():
            assert _session().scalar(select(func.count()).select_from(User)) == users
            assert _raw_hashes("channel_identities", "external_id_hash")[0].startswith("h2:")
            from portal.privacy.hash_keys import hash_usage

            usage = hash_usage(_session(), app.extensions["data_keys"])
            assert usage["channel_identities.external_id_hash"] == {"h1": 0, "h2": 1}
    finally:
        app.extensions["db"].dispose()


def test_rehash_command_is_batched_audited_and_safe_to_run_again(
    db_url: str, tmp_path: Path
) -> None:
    with running(db_url, tmp_path, OLD_KEYS):
        _seed(7)

    with running(db_url, tmp_path, NEW_KEYS) as app:
        runner = app.test_cli_runner()
        status = runner.invoke(args=["keys", "status"])
        assert status.exit_code == 0, status.output
        assert "lookup hash keys:" in status.output
        assert (
            "h1: 14 hashes (channel_identities.external_id_hash 7, "
            "confirmed_phones.phone_hash 0, case_contacts.phone_hash 7)"
            in status.output
        )
        assert "h2 (active): 0 hashes" in status.output
        assert "14 hashes not yet under the active hash key h2" in status.output

        refused = runner.invoke(args=["keys", "retire", "--hash", "h1"])
        assert refused.exit_code != 0
        assert "14 stored hashes still use 'h1' and would stop matching" in refused.output
        assert (
            "7 in channel_identities.external_id_hash: residents' channel links" in refused.output
        )
        assert "keys rehash" in refused.output

        done = runner.invoke(args=["keys", "rehash", "--batch-size", "3"])
        assert done.exit_code == 0, done.output
        # 7 identities in batches of 3 (3) and 7 contacts (3): 6 batches.
        assert "re-hashed 14 values under h2 in 6 batches" in done.output
        again = runner.invoke(args=["keys", "rehash"])
        assert "re-hashed 0 values under h2 in 0 batches" in again.output

        status = runner.invoke(args=["keys", "status"])
        assert "h2 (active): 14 hashes" in status.output and "h1: 0 hashes" in status.output
        assert "not yet under the active hash key" not in status.output
        assert all(
            h.startswith("h2:")
            for table, column in (
                ("channel_identities", "external_id_hash"),
                ("case_contacts", "phone_hash"),
            )
            for h in _raw_hashes(table, column)
        )
        from portal.audit.models import AuditEntry

        recorded = (
            _session()
            .scalars(
                select(AuditEntry.after)
                .where(AuditEntry.action == "lookup_hashes_rehashed")
                .order_by(AuditEntry.id)
            )
            .first()
        )
        assert recorded == {"active": "h2", "rehashed": 14, "changed_meanwhile": 0, "conflicts": 0}
        # h1 is unused now: the settings are where it has to go.
        told = runner.invoke(args=["keys", "retire", "--hash", "h1"])
        assert told.exit_code != 0 and "remove 'h1' from SHUZHI_DATA_HASH_KEYS" in told.output
        assert "(nothing uses it)" in told.output
        assert _audit_actions() == ["lookup_hashes_rehashed", "lookup_hashes_rehashed"]

    with running(db_url, tmp_path, LAST_KEYS):  # h1 gone: every lookup still matches
        from portal.api.services import find_channel_identity

        session = _session()
        for n in range(7):
            assert find_channel_identity(session, channel="telegram", external_id=str(9000 + n))
            assert session.scalar(
                select(CaseContact.id).where(
                    CaseContact.phone_hash.in_(phone_lookup_hashes(f"1390000{n:04d}"))
                )
            )


def test_an_interrupted_rehash_keeps_its_batches_and_the_next_run_finishes(
    db_url: str, tmp_path: Path
) -> None:
    from portal.privacy.hash_keys import hash_usage, not_under_active, rehash

    with running(db_url, tmp_path, OLD_KEYS):
        _seed(5)

    with running(db_url, tmp_path, NEW_KEYS) as app:
        ring = app.extensions["data_keys"]
        factory = app.extensions["db"].session_factory

        class Killed(Exception):
            pass

        def crash(_n: int) -> None:
            raise Killed

        with pytest.raises(Killed):
            rehash(factory, ring, batch_size=2, on_batch=crash)
        usage = hash_usage(_session(), ring)
        assert usage["channel_identities.external_id_hash"] == {"h1": 3, "h2": 2}
        assert not_under_active(usage, ring) == 8
        _session().rollback()

        # A contact the application changes while a batch is on its way is left to it.
        calls = 0

        def factory_with_an_edit_in_between() -> Any:
            nonlocal calls
            calls += 1
            # Calls: identities reader, its two writers, the (empty) confirmed phones' reader,
            # contacts reader, then the first contacts batch's writer: just before it, the
            # application updates contact #1.
            if calls == 6:
                with factory() as other:
                    contact = other.scalars(select(CaseContact).order_by(CaseContact.id)).first()
                    contact.phone = "13911112222"
                    other.commit()
            return factory()

        report = rehash(factory_with_an_edit_in_between, ring, batch_size=2)
        assert report.rehashed == 7 and report.skipped_changed == 1 and not report.conflicts
        usage = hash_usage(_session(), ring)
        assert not_under_active(usage, ring) == 0
        assert usage["case_contacts.phone_hash"] == {"h1": 0, "h2": 5}
        assert rehash(factory, ring).rehashed == 0


def test_a_duplicate_identity_is_reported_not_fatal(db_url: str, tmp_path: Path) -> None:
    """A resident seen by an old-key and a new-key worker at once (rolling restart) can get two
    identity rows; re-hashing the older one would collide, so it is left and reported."""
    from portal.api.services import find_channel_identity
    from portal.privacy.hash_keys import rehash

    with running(db_url, tmp_path, OLD_KEYS):
        _seed(3)
    with running(db_url, tmp_path, NEW_KEYS) as app:
        session = _session()
        twin = User(display_name="twin")
        session.add(twin)
        session.flush()
        session.add(ChannelIdentity(user_id=twin.id, channel="telegram", external_id="9001"))
        session.commit()
        # The lookup prefers the identity under the active key and leaves the other alone.
        found = find_channel_identity(session, channel="telegram", external_id="9001")
        assert found.user_id == twin.id
        session.commit()
        report = rehash(app.extensions["db"].session_factory, app.extensions["data_keys"])
        assert report.conflicts == ["channel_identities #2"]
        assert report.rehashed == 2 + 3  # the two other identities and the three contacts
        runner = app.test_cli_runner()
        status = runner.invoke(args=["keys", "status"])
        assert "h1: 1 hashes (channel_identities.external_id_hash 1" in status.output


def test_retire_refuses_the_active_hash_key_and_names_the_right_option(
    db_url: str, tmp_path: Path
) -> None:
    with running(db_url, tmp_path, NEW_KEYS) as app:
        runner = app.test_cli_runner()
        active = runner.invoke(args=["keys", "retire", "--hash", "h2"])
        assert active.exit_code != 0 and "'h2' is the active hash key" in active.output
        unknown = runner.invoke(args=["keys", "retire", "--hash", "h7"])
        assert unknown.exit_code != 0 and "no hash key 'h7' in the hash key ring" in unknown.output
        wrong_ring = runner.invoke(args=["keys", "retire", "h1"])
        assert wrong_ring.exit_code != 0 and "keys retire --hash h1" in wrong_ring.output
        force_data = runner.invoke(args=["keys", "retire", "--force", "t1"])
        assert (
            force_data.exit_code != 0 and "--force applies to hash keys only" in force_data.output
        )
        rotate = runner.invoke(args=["keys", "rotate", "--hash"])
        assert rotate.exit_code == 0 and "SHUZHI_DATA_HASH_KEY_ACTIVE=h3" in rotate.output
        assert '"h3": "' in rotate.output
        assert _audit_actions() == ["hash_key_rotated"]


# --- the development key file (as the data key rotation test) -----------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_hash_key_rotation_in_the_key_file(db_url: str, tmp_path: Path) -> None:
    """rotate --hash → (restart) → retire refused → --force breaks links → rehash mends them."""
    from portal.api.services import find_channel_identity

    with running(db_url, tmp_path, None) as first:
        _seed(4)
        rotated = first.test_cli_runner().invoke(args=["keys", "rotate", "--hash"])
        assert rotated.exit_code == 0 and "new active hash key h2" in rotated.output
    path = tmp_path / "instance" / "keys.json"
    content = json.loads(path.read_text())
    assert "hash_key" not in content and set(content["hash_keys"]) == {"h1", "h2"}
    assert content["hash_active"] == "h2" and content["active"] == "k1"

    with running(db_url, tmp_path, None) as second:
        runner = second.test_cli_runner()
        refused = runner.invoke(args=["keys", "retire", "--hash", "h1"])
        assert refused.exit_code != 0 and "8 stored hashes still use 'h1'" in refused.output
        forced = runner.invoke(args=["keys", "retire", "--hash", "--force", "h1"])
        assert forced.exit_code == 0, forced.output
        assert "8 hashes made under it no longer match" in forced.output
    assert set(json.loads(path.read_text())["hash_keys"]) == {"h2"}

    with running(db_url, tmp_path, None) as third:
        session = _session()
        assert find_channel_identity(session, channel="telegram", external_id="9000") is None
        status = third.test_cli_runner().invoke(args=["keys", "status"])
        assert "h1 (NOT IN KEY RING: these lookups fail): 8 hashes" in status.output
        done = third.test_cli_runner().invoke(args=["keys", "rehash"])
        assert "re-hashed 8 values under h2" in done.output, done.output
        assert find_channel_identity(session, channel="telegram", external_id="9000")
        assert _audit_actions() == [
            "hash_key_rotated",
            "hash_key_retired",
            "lookup_hashes_rehashed",
        ]


# --- the migration --------------------------------------------------------------------------------


def test_migration_widens_the_hash_columns_and_downgrade_refuses_foreign_hashes(
    empty_database: str,
) -> None:
    from alembic import command

    from portal.db import make_engine
    from portal.migrate import alembic_config, upgrade

    upgrade(empty_database, "b8d2e4f6a1c3")
    engine = make_engine(empty_database)
    bare = "ab" * 32
    prefixed = "h2:" + "cd" * 32
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, display_name, role, locale, verification_level, "
                    "active, created_at, failed_login_count) VALUES "
                    "(1, 'r', 'resident', 'en', 0, true, '2026-11-29 00:00:00+00:00', 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO channel_identities (id, user_id, channel, external_id, "
                    "external_id_hash, created_at) "
                    "VALUES (1, 1, 'telegram', 'x', :h, '2026-11-29 00:00:00+00:00')"
                ),
                {"h": bare},
            )
        upgrade(empty_database)
        with engine.begin() as conn:  # 67 characters fit now (PostgreSQL checks the width)
            conn.execute(
                text(
                    "INSERT INTO channel_identities (id, user_id, channel, external_id, "
                    "external_id_hash, created_at) "
                    "VALUES (2, 1, 'telegram', 'y', :h, '2026-11-29 00:00:00+00:00')"
                ),
                {"h": prefixed},
            )
        # On our own connection: migrations/env.py leaves its engine undisposed when a
        # migration raises (the pooled connection would be collected in some later test).
        refused = alembic_config(empty_database)
        with engine.connect() as conn:
            refused.attributes["connection"] = conn
            with pytest.raises(
                RuntimeError, match=r"1 values of channel_identities\.external_id_hash"
            ):
                command.downgrade(refused, "b8d2e4f6a1c3")
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE channel_identities SET external_id_hash = :h WHERE id = 2"),
                {"h": "h1:" + "ef" * 32},
            )
        command.downgrade(alembic_config(empty_database), "b8d2e4f6a1c3")
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT external_id_hash FROM channel_identities ORDER BY id")
            ).scalars()
            assert list(stored) == [bare, "ef" * 32]
    finally:
        engine.dispose()
