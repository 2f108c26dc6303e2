"""``POST /api/v1/me/phone``: the bot passes on a contact card; the resident's OWN card (Telegram
user id = the resident's) confirms the phone (level 1), stored encrypted with a keyed hash;
someone else's card never counts; a repeat changes nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text

from portal.accounts.models import ChannelIdentity
from portal.api.services import create_api_key
from portal.audit.models import AuditEntry
from portal.deliberation.models import ConfirmedPhone
from portal.privacy.crypto import identity_lookup_hash, phone_lookup_hash
from portal.privacy.services import erase_account, export_personal_data

RESIDENT = "telegram:777001"


@pytest.fixture
def api(client, session, jurisdiction):  # type: ignore[no-untyped-def]
    secret = create_api_key(session, name="telegram bot", scopes=["channel:telegram"]).secret
    session.commit()

    def call(*, resident: str | None = RESIDENT, key: str | None = None, **body: Any) -> Any:
        headers = {"Authorization": f"Bearer {key or secret}"}
        if resident:
            headers["X-Shuzhi-Resident"] = resident
        return client.post("/api/v1/me/phone", headers=headers, json=body)

    return call


def _user(session, reference: str = RESIDENT):  # type: ignore[no-untyped-def]
    channel, external_id = reference.split(":")
    identity = session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.external_id_hash == identity_lookup_hash(channel, external_id)
        )
    )
    return identity.user if identity else None


def test_own_contact_confirms_level_1_once(api, session) -> None:  # type: ignore[no-untyped-def]
    first = api(phone_number="+86 138 0013 8000", contact_user_id=777001)
    assert first.status_code == 200, first.json
    assert first.json == {
        "verification_level": 1,
        "label": "phone confirmed",
        "phone_confirmed": True,
        "changed": True,
    }
    user = _user(session)
    assert user.verification_level == 1
    row = session.scalar(select(ConfirmedPhone).where(ConfirmedPhone.user_id == user.id))
    assert row is not None and row.phone == "+86 138 0013 8000" and row.channel == "telegram"
    assert row.phone_hash == phone_lookup_hash("13800138000")
    raw = session.execute(text("SELECT phone FROM confirmed_phones")).scalar_one()
    assert "13800138000" not in raw.replace(" ", "") and raw.startswith("enc:")
    # The same card again: nothing changes, nothing more is audited.
    again = api(phone_number="+86 138 0013 8000", contact_user_id=777001)
    assert again.status_code == 200 and again.json["changed"] is False
    assert again.json["verification_level"] == 1
    assert session.scalar(select(func.count()).select_from(ConfirmedPhone)) == 1
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "verification.phone_confirmed")
    ).all()
    assert len(entries) == 1 and entries[0].after == {
        "verification_level": 1,
        "channel": "telegram",
    }
    assert "13800138000" not in str(entries[0].before) + str(entries[0].after)
    # A new number replaces the old one (same account, still level 1).
    changed = api(phone_number="13900139000", contact_user_id=777001)
    assert changed.status_code == 200 and changed.json["changed"] is True
    session.expire_all()
    assert session.scalar(select(ConfirmedPhone.phone)) == "13900139000"


def test_someone_elses_contact_never_counts(api, session) -> None:  # type: ignore[no-untyped-def]
    refused = api(phone_number="13800138000", contact_user_id=123456)
    assert refused.status_code == 422 and refused.json["code"] == "not_own_contact"
    assert _user(session).verification_level == 0
    assert session.scalar(select(func.count()).select_from(ConfirmedPhone)) == 0


def test_level_never_lowered_and_one_number_one_account(api, session, make_user) -> None:  # type: ignore[no-untyped-def]
    api(phone_number="13700000000", contact_user_id=777001)  # creates the resident
    user = _user(session)
    user.verification_level = 2
    session.commit()
    kept = api(phone_number="13700000000", contact_user_id=777001)
    assert kept.status_code == 200 and kept.json["verification_level"] == 2
    # Another Telegram account cannot use the number that confirms the first one.
    taken = api(resident="telegram:777002", phone_number="137 0000 0000", contact_user_id=777002)
    assert taken.status_code == 409 and taken.json["code"] == "phone_confirms_other_account"
    assert _user(session, "telegram:777002").verification_level == 0


def test_bad_input_and_scopes(api, session) -> None:  # type: ignore[no-untyped-def]
    assert api(phone_number="12", contact_user_id=777001).status_code == 422
    assert api(phone_number="13800138000", contact_user_id="777001").status_code == 422
    assert api(phone_number="13800138000", contact_user_id=True).status_code == 422
    assert api(phone_number="13800138000").status_code == 422
    no_resident = api(resident=None, phone_number="13800138000", contact_user_id=777001)
    assert no_resident.status_code == 403 and no_resident.json["code"] == "resident_required"
    city_app = create_api_key(session, name="city app", scopes=["cases:submit"]).secret
    session.commit()
    other_key = api(key=city_app, phone_number="13800138000", contact_user_id=777001)
    assert other_key.status_code == 403 and other_key.json["code"] == "insufficient_scope"
    assert api(key="shz_nope", phone_number="1", contact_user_id=1).status_code == 401
    assert session.scalar(select(func.count()).select_from(ConfirmedPhone)) == 0


def test_export_and_erasure_cover_the_phone(api, session) -> None:  # type: ignore[no-untyped-def]
    assert api(phone_number="13800138000", contact_user_id=777001).status_code == 200
    user = _user(session)
    data = export_personal_data(session, user=user)
    assert data["confirmed_phone"]["phone"] == "13800138000"
    erase_account(session, user=user)
    session.commit()
    assert session.scalar(select(func.count()).select_from(ConfirmedPhone)) == 0
    assert session.scalar(select(func.count()).select_from(ChannelIdentity)) == 0


def test_keys_rehash_knows_the_confirmed_phone_hash() -> None:
    from portal.privacy.hash_keys import hashed_columns

    (column,) = [c for c in hashed_columns() if c.label == "confirmed_phones.phone_hash"]
    assert column.purpose == "phone" and [s.name for s in column.sources] == ["phone"]
