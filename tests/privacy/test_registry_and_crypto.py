"""The sensitivity registry covers every column and its rules hold; the cipher and the log
redaction behave. No database needed."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from portal.models import Base
from portal.privacy.crypto import (
    DecryptionError,
    EncryptedText,
    KeyRing,
    KeyRingError,
    load_key_ring,
    split_ciphertext,
)
from portal.privacy.redaction import install_log_redaction, redact
from portal.privacy.registry import LEVELS, REGISTRY, columns_at

KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.b64encode(b"B" * 32).decode()
HASH_KEY = base64.b64encode(b"H" * 32).decode()


def ring(active: str = "a", **keys: str) -> KeyRing:
    keys = keys or {"a": KEY_A}
    return KeyRing(
        keys={kid: base64.b64decode(v) for kid, v in keys.items()},
        active=active,
        hash_key=base64.b64decode(HASH_KEY),
    )


def _import_every_model_module() -> None:
    """Feature models not yet listed in portal/models.py are graded too."""
    import importlib
    import pkgutil

    import portal

    for module in pkgutil.iter_modules(portal.__path__):
        if module.ispkg:
            try:
                importlib.import_module(f"portal.{module.name}.models")
            except ModuleNotFoundError as error:
                if error.name != f"portal.{module.name}.models":
                    raise


_import_every_model_module()


def test_every_column_of_every_table_is_graded_and_nothing_else() -> None:
    schema = {t.name: {c.name for c in t.columns} for t in Base.metadata.sorted_tables}
    ungraded = sorted(
        f"{table}.{column}"
        for table, columns in schema.items()
        for column in columns
        if column not in REGISTRY.get(table, {})
    )
    assert not ungraded, f"grade these columns in portal/privacy/registry.py: {ungraded}"
    stale = sorted(
        f"{table}.{column}"
        for table, columns in REGISTRY.items()
        for column in columns
        if column not in schema.get(table, set())
    )
    assert not stale, f"the registry names columns that do not exist: {stale}"
    assert {level for columns in REGISTRY.values() for level in columns.values()} <= set(LEVELS)


def test_sensitive_columns_and_only_they_are_encrypted_with_their_own_aad() -> None:
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            level = REGISTRY[table.name][column.name]
            encrypted = isinstance(column.type, EncryptedText)
            where = f"{table.name}.{column.name}"
            assert encrypted == (level == "sensitive"), (
                f"{where}: level {level}, encrypted {encrypted}"
            )
            if encrypted:
                assert column.type.aad == where
    sensitive = {f"{t}.{c}" for t, c in columns_at("sensitive")}
    assert {
        "case_contacts.name",
        "case_contacts.phone",
        "cases.text_raw",
        "cases.address_text",
        "channel_identities.external_id",
    } <= sensitive


def test_secret_columns_only_hold_one_way_digests() -> None:
    secret = columns_at("secret")
    assert ("users", "password_hash") in secret and ("api_keys", "hash") in secret
    assert all(column.endswith("hash") for _table, column in secret)


def test_encryption_round_trip_and_layout() -> None:
    keys = ring()
    stored = keys.encrypt("13912345678", aad="case_contacts.phone")
    assert "13912345678" not in stored and stored.startswith("enc:v1:a:")
    assert split_ciphertext(stored)[0] == "a"
    assert keys.decrypt(stored, aad="case_contacts.phone") == "13912345678"
    assert keys.encrypt("x", aad="t.c") != keys.encrypt("x", aad="t.c")  # random nonce


def test_ciphertext_moved_to_another_column_or_tampered_fails() -> None:
    keys = ring()
    stored = keys.encrypt("王女士", aad="case_contacts.name")
    with pytest.raises(DecryptionError):
        keys.decrypt(stored, aad="case_contacts.phone")
    tampered = stored[:-3] + ("AAA" if not stored.endswith("AAA") else "BBB")
    with pytest.raises(DecryptionError):
        keys.decrypt(tampered, aad="case_contacts.name")
    relabelled = stored.replace("enc:v1:a:", "enc:v1:b:")
    with pytest.raises(DecryptionError):
        ring("b", a=KEY_A, b=KEY_A).decrypt(relabelled, aad="case_contacts.name")


def test_old_keys_stay_readable_after_rotation_and_unknown_keys_fail() -> None:
    old = ring().encrypt("secret text", aad="cases.text_raw")
    rotated = ring("b", a=KEY_A, b=KEY_B)
    assert rotated.decrypt(old, aad="cases.text_raw") == "secret text"
    assert rotated.encrypt("new", aad="cases.text_raw").startswith("enc:v1:b:")
    with pytest.raises(KeyRingError):
        ring("b", b=KEY_B).decrypt(old, aad="cases.text_raw")


def test_lookup_hash_is_keyed_and_domain_separated() -> None:
    keys = ring()
    other = KeyRing(keys={"a": b"A" * 32}, active="a", hash_key=b"X" * 32)
    assert keys.lookup_hash("13912345678", purpose="phone") != other.lookup_hash(
        "13912345678", purpose="phone"
    )
    assert keys.lookup_hash("1", purpose="phone") != keys.lookup_hash("1", purpose="telegram")


def test_development_key_file_is_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    first = load_key_ring({"ENV": "development", "INSTANCE_PATH": str(tmp_path)})
    path = tmp_path / "keys.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = load_key_ring({"ENV": "development", "INSTANCE_PATH": str(tmp_path)})
    assert first.keys == second.keys and first.active == second.active
    assert set(json.loads(path.read_text())) == {"keys", "active", "hash_key"}


def test_production_refuses_to_start_without_keys_and_rejects_bad_keys(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="SHUZHI_DATA_KEYS"):
        load_key_ring({"ENV": "production", "INSTANCE_PATH": str(tmp_path)})
    with pytest.raises(KeyRingError, match="32 bytes"):
        load_key_ring(
            {
                "DATA_KEYS": json.dumps({"a": base64.b64encode(b"short").decode()}),
                "DATA_HASH_KEY": HASH_KEY,
            }
        )
    with pytest.raises(KeyRingError, match="not in the key ring"):
        load_key_ring(
            {
                "DATA_KEYS": json.dumps({"a": KEY_A}),
                "DATA_KEY_ACTIVE": "z",
                "DATA_HASH_KEY": HASH_KEY,
            }
        )


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("call 13912345678 now", "13912345678"),
        ("call +86 139-1234-5678", "1234-5678"),
        ("id 11010519491231002X ok", "11010519491231002X"),
        ("resident telegram:987654321", "987654321"),
        ("Authorization: Bearer shz_abcDEF123456789", "abcDEF123456789"),
        ("password=hunter2hunter2", "hunter2hunter2"),
        ("mail wang.li@example.com", "wang.li@example.com"),
        (f"key {KEY_A}", KEY_A),
    ],
)
def test_redaction_patterns(text: str, leak: str) -> None:
    assert leak not in redact(text) and "[redacted]" in redact(text)


def test_redaction_keeps_ordinary_messages() -> None:
    message = "GET /cases/LJ-2611-0042-7 200 in 12 ms (case 42)"
    assert redact(message) == message


def test_log_records_are_redacted_before_any_handler(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    logger = logging.getLogger("tests.privacy")
    with caplog.at_level(logging.DEBUG):
        logger.info("contact %s for case %d", "13912345678", 7)
        try:
            raise ValueError("bad phone 13800138000")
        except ValueError:
            logger.exception("failed for telegram:%s", 55512345)
    text = caplog.text
    assert "13912345678" not in text and "13800138000" not in text and "55512345" not in text
    assert "case 7" in text and "ValueError" in text
