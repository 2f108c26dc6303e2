"""The notes the system writes on a case (a duplicate's closure, a task opened from a hotspot) are
stored as message codes and read in each reader's language: the public page, the workbench, the
API and the bot's notification feed. Notes written before codes read as stored."""

from __future__ import annotations

from typing import Any

import pytest

from portal.accounts.models import ChannelIdentity
from portal.api.services import create_api_key
from portal.cases.models import Case, CaseEvent
from portal.db import utcnow
from portal.workbench import triage
from tests.workbench.conftest import People, login


@pytest.fixture
def duplicate(session: Any, make_triage_case: Any, assigned_case: Case, people: People) -> Case:
    """A triage case closed as a duplicate of ``assigned_case`` with no note of the clerk's."""
    case = make_triage_case()
    triage.close_invalid(
        session,
        case=case,
        actor=people.coordinator,
        reason="duplicate",
        duplicate_of=assigned_case.tracking_number,
    )
    session.commit()
    return case


def _text(client: Any, url: str, lang: str, **kwargs: Any) -> str:
    response = client.get(f"{url}?lang={lang}", **kwargs)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_a_duplicate_reads_in_each_language(  # type: ignore[no-untyped-def]
    client, session, duplicate, assigned_case, people
) -> None:
    number = assigned_case.tracking_number
    close = duplicate.events[-1]
    assert close.note is None and close.data["message"]["code"] == "case_duplicate"
    zh_words, en_words = f"与 {number} 重复。", f"Duplicate of {number}."
    # the public page
    zh = _text(client, f"/cases/{duplicate.tracking_number}", "zh_Hans_CN")
    en = _text(client, f"/cases/{duplicate.tracking_number}", "en")
    assert zh_words in zh and en_words not in zh
    assert en_words in en and zh_words not in en
    # the API: the same code, the text in the language asked for
    secret = create_api_key(session, name="reader", scopes=["cases:read"]).secret
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    bodies = {
        lang: client.get(
            f"/api/v1/cases/{duplicate.tracking_number}?lang={lang}", headers=headers
        ).json
        for lang in ("zh_Hans_CN", "en")
    }
    assert bodies["zh_Hans_CN"]["timeline"][-1]["note"] == zh_words
    assert bodies["en"]["timeline"][-1]["note"] == en_words
    assert bodies["en"]["timeline"][-1]["message"] == {
        "code": "case_duplicate",
        "args": {"number": number},
    }
    assert (
        bodies["en"]["timeline"][-1]["message"] == bodies["zh_Hans_CN"]["timeline"][-1]["message"]
    )
    # the workbench
    login(client, people.coordinator)
    assert zh_words in _text(client, f"/workbench/cases/{duplicate.tracking_number}", "zh_Hans_CN")
    assert en_words in _text(client, f"/workbench/cases/{duplicate.tracking_number}", "en")


def test_the_submitter_is_told_in_their_own_language(  # type: ignore[no-untyped-def]
    client, session, make_triage_case, assigned_case, people
) -> None:
    people.resident.locale = "en"
    session.add(ChannelIdentity(user_id=people.resident.id, channel="telegram", external_id="7001"))
    session.commit()
    case = make_triage_case()
    triage.close_invalid(
        session,
        case=case,
        actor=people.coordinator,
        reason="duplicate",
        duplicate_of=assigned_case.tracking_number,
    )
    session.commit()
    secret = create_api_key(session, name="bot", scopes=["channel:telegram"]).secret
    session.commit()
    items = client.get(
        "/api/v1/notifications?channel=telegram", headers={"Authorization": f"Bearer {secret}"}
    ).json["items"]
    [closed] = [
        i for i in items if i["tracking_number"] == case.tracking_number and i["event"] == "close"
    ]
    assert closed["locale"] == "en"
    assert closed["note"] == f"Duplicate of {assigned_case.tracking_number}."
    assert closed["message"]["code"] == "case_duplicate"


def test_a_clerks_own_note_and_old_notes_read_as_written(  # type: ignore[no-untyped-def]
    client, session, make_triage_case, assigned_case, people
) -> None:
    case = make_triage_case()
    triage.close_invalid(
        session,
        case=case,
        actor=people.coordinator,
        reason="duplicate",
        duplicate_of=assigned_case.tracking_number,
        note="同一楼道的问题，已合并处理。",
    )
    # A note from before codes: the server's language at the time, kept as it was stored.
    session.add(
        CaseEvent(
            case_id=case.id,
            type="note",
            public=True,
            note="与 LJ-2601-0001-1 重复。",
            data={},
            created_at=utcnow(),
        )
    )
    session.commit()
    assert "message" not in case.events[-2].data  # the clerk wrote it: no system message
    for lang in ("zh_Hans_CN", "en"):
        page = _text(client, f"/cases/{case.tracking_number}", lang)
        assert "同一楼道的问题，已合并处理。" in page and "与 LJ-2601-0001-1 重复。" in page
        assert "Duplicate of" not in page
