"""The privacy migration encrypts existing plaintext rows and fills the lookup hashes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from portal.db import make_engine
from portal.migrate import upgrade
from portal.privacy.crypto import load_key_ring
from tests.conftest import TEST_DATA_KEYS


def test_existing_rows_are_encrypted_and_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in TEST_DATA_KEYS.items():
        monkeypatch.setenv(f"SHUZHI_{key}", value)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "c4e8a2f61d09")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, display_name, role, locale, verification_level, active, "
                "created_at, failed_login_count) VALUES (1, 'r', 'resident', 'zh', 0, 1, '2026-01-01', 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO channel_identities (id, user_id, channel, external_id, created_at) "
                "VALUES (1, 1, 'telegram', '700123456', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO cases (id, tracking_number, kind, status, priority, channel, text_raw, "
                "text_masked, title, address_text, anonymous, me_too_count, prediction_explanation, "
                "created_at, updated_at, version) VALUES (1, 'LJ-1', 'complaint', 'triage', 'normal', "
                "'web', '电话13987654321', '电话[电话]', 't', '枫林三路88号', 1, 0, '[]', '2026-01-01', "
                "'2026-01-01', 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO case_contacts (id, case_id, name, phone) VALUES (1, 1, '欧阳', '139 8765 4321')"
            )
        )
    engine.dispose()
    upgrade(url)
    ring = load_key_ring({key: value for key, value in TEST_DATA_KEYS.items()})
    engine = make_engine(url)
    with engine.connect() as conn:
        ext, ext_hash = conn.execute(
            text("SELECT external_id, external_id_hash FROM channel_identities")
        ).one()
        raw, address = conn.execute(text("SELECT text_raw, address_text FROM cases")).one()
        name, phone, phone_hash = conn.execute(
            text("SELECT name, phone, phone_hash FROM case_contacts")
        ).one()
    engine.dispose()
    assert ring.decrypt(ext, aad="channel_identities.external_id") == "700123456"
    assert ext_hash == ring.lookup_hash("telegram:700123456", purpose="channel_identity")
    assert ring.decrypt(raw, aad="cases.text_raw") == "电话13987654321"
    assert ring.decrypt(address, aad="cases.address_text") == "枫林三路88号"
    assert ring.decrypt(phone, aad="case_contacts.phone") == "139 8765 4321"
    assert ring.decrypt(name, aad="case_contacts.name") == "欧阳"
    assert phone_hash == ring.lookup_hash("13987654321", purpose="phone")
    assert b"13987654321" not in (tmp_path / "old.db").read_bytes()
