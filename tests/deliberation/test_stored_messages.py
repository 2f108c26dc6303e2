"""What the system says on a proposal's history (archive reason, threshold, routing, moderation,
the official answer) is stored as a message code and shown in each reader's language: the same
stored event reads Chinese to a Chinese reader and English to an English one, on the web page, in
the API and in the bot's notification feed. Rows written before codes (plain text) read as stored.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal.accounts.models import ChannelIdentity
from portal.api.services import create_api_key
from portal.cases.models import Notification
from portal.db import utcnow
from portal.deliberation import answers
from portal.deliberation import lifecycle as lc
from portal.deliberation import services as svc
from portal.deliberation.models import Proposal, ProposalEvent
from portal.deliberation.moderation import hide_content, restore_content

ZH_ARCHIVED = "附议期已于"
EN_ARCHIVED = "The support window ended on"


@pytest.fixture
def read_key(session, jurisdiction) -> str:  # type: ignore[no-untyped-def]
    secret = create_api_key(session, name="reader", scopes=["cases:read"]).secret
    session.commit()
    return secret


def _get(client: Any, url: str, lang: str, **kwargs: Any) -> Any:
    sep = "&" if "?" in url else "?"
    response = client.get(f"{url}{sep}lang={lang}", **kwargs)
    assert response.status_code == 200, response.status_code
    return response


def _archived(session: Any, settings: Any, make_proposal: Any, resident: Any) -> Proposal:
    """A proposal archived by the CLI's service outside any request (server locale: Chinese)."""
    settings(proposal_support_threshold=3)
    proposal = make_proposal()
    svc.support_proposal(session, proposal=proposal, user=resident())
    proposal.support_deadline = utcnow() - timedelta(hours=1)
    session.commit()
    assert [p.id for p in svc.archive_expired_proposals(session)] == [proposal.id]
    session.commit()
    return proposal


def test_archive_reason_is_stored_as_a_code(session, settings, make_proposal, resident) -> None:  # type: ignore[no-untyped-def]
    proposal = _archived(session, settings, make_proposal, resident)
    event = proposal.events[-1]
    assert event.type == "archive" and event.note is None and proposal.closed_reason is None
    assert event.data["message"]["code"] == "proposal_archived"
    assert event.data["message"]["args"] == {
        "date": proposal.support_deadline.date().isoformat(),
        "n": 1,
        "needed": 3,
    }
    # Nothing stored for this proposal holds text in the server's language.
    notes = session.scalars(select(Notification.payload)).all()
    archived = [p for p in notes if p.get("event") == "proposal_archived"]
    assert archived and all(p["message"]["code"] == "proposal_archived" for p in archived)
    assert all(ZH_ARCHIVED not in str(p) for p in notes)


def test_the_same_archived_proposal_reads_in_each_language_on_the_web(  # type: ignore[no-untyped-def]
    client, session, settings, make_proposal, resident
) -> None:
    proposal = _archived(session, settings, make_proposal, resident)
    zh = _get(client, f"/proposals/{proposal.id}", "zh_Hans_CN").get_data(as_text=True)
    en = _get(client, f"/proposals/{proposal.id}", "en").get_data(as_text=True)
    assert f"{ZH_ARCHIVED} " in zh and "共获得 1 个附议，未达到所需的 3 个" in zh
    assert EN_ARCHIVED not in zh
    assert f"{EN_ARCHIVED} " in en and "with 1 of the 3 supports needed" in en
    assert ZH_ARCHIVED not in en


def test_the_same_archived_proposal_reads_in_each_language_in_the_api(  # type: ignore[no-untyped-def]
    client, session, settings, make_proposal, resident, read_key
) -> None:
    proposal = _archived(session, settings, make_proposal, resident)
    headers = {"Authorization": f"Bearer {read_key}"}
    url = f"/api/v1/proposals/{proposal.id}"
    zh = _get(client, url, "zh_Hans_CN", headers=headers).json
    en = _get(client, url, "en", headers=headers).json
    for body, words, other in ((zh, ZH_ARCHIVED, EN_ARCHIVED), (en, EN_ARCHIVED, ZH_ARCHIVED)):
        archive = body["timeline"][-1]
        assert archive["type"] == "archive" and archive["message"]["code"] == "proposal_archived"
        assert archive["note"].startswith(words) and other not in archive["note"]
        assert body["closed_reason"].startswith(words)
        assert body["closed_reason_message"]["code"] == "proposal_archived"
    # The code and its arguments are the same whatever the language; only the text differs.
    assert zh["timeline"][-1]["message"] == en["timeline"][-1]["message"]


def test_threshold_routing_moderation_and_answer_follow_the_reader(  # type: ignore[no-untyped-def]
    client, session, settings, make_proposal, resident, make_user
) -> None:
    settings(proposal_support_threshold=1)
    proposal = make_proposal(title="青松社区东门增设公交站")
    svc.support_proposal(session, proposal=proposal, user=resident())
    session.commit()
    assert proposal.status == lc.UNDER_REVIEW
    department = proposal.case.lead_department
    assert department.name_en and department.name_en != department.name
    moderator = make_user(role="moderator")
    hide_content(
        session, moderator=moderator, target_type="proposal", target_id=proposal.id, reason="核实中"
    )
    restore_content(
        session, moderator=moderator, target_type="proposal", target_id=proposal.id, reason="已核实"
    )
    clerk = make_user(role="staff", department=department.code)
    answers.answer_proposal(
        session,
        proposal=proposal,
        actor=clerk,
        outcome="partly_accepted",
        answer="同意在东门增设临时停靠站。",
        reasons="东门路宽不足以设港湾式车站。",
    )
    session.commit()
    stored = {e.type: e for e in proposal.events}
    assert all(stored[t].note is None for t in ("reach_threshold", "route", "answer"))
    assert [e.data["message"]["code"] for e in proposal.events if e.type == "moderation"] == [
        "proposal_hidden",
        "proposal_restored",
    ]

    zh = _get(client, f"/proposals/{proposal.id}", "zh_Hans_CN").get_data(as_text=True)
    en = _get(client, f"/proposals/{proposal.id}", "en").get_data(as_text=True)
    assert "已有 1 位居民附议此建议。" in zh and "1 resident supports this proposal." in en
    number = proposal.case.tracking_number
    assert f"已转{department.name}（诉求编号 {number}）。" in zh
    assert f"Sent to {department.name_en} (case {number})." in en
    assert "已由审核员隐藏。" in zh and "已由审核员恢复。" in zh
    assert "Hidden by moderator." in en and "Restored by moderator." in en
    assert "部分采纳" in zh and "Partly accepted" in en
    assert "Partly accepted" not in zh and "部分采纳" not in en

    # The linked case's resolution: the department's words, framed in the reader's language.
    case_url = f"/cases/{number}"
    zh_case = _get(client, case_url, "zh_Hans_CN").get_data(as_text=True)
    en_case = _get(client, case_url, "en").get_data(as_text=True)
    assert "部分采纳: 同意在东门增设临时停靠站。" in zh_case and "理由：东门路宽" in zh_case
    assert "Partly accepted: 同意在东门增设临时停靠站。" in en_case
    assert "Reasons: 东门路宽" in en_case and "理由：" not in en_case


def test_notifications_reach_each_follower_in_their_own_language(  # type: ignore[no-untyped-def]
    client, session, settings, make_proposal, resident
) -> None:
    """The bot's feed renders a stored message in each recipient's language (User.locale)."""
    settings(proposal_support_threshold=3)
    english = resident(locale="en")
    chinese = resident(locale="zh_Hans_CN")
    proposal = make_proposal(author=english)
    svc.support_proposal(session, proposal=proposal, user=chinese)
    for user, external_id in ((english, "9001"), (chinese, "9002")):
        session.add(ChannelIdentity(user_id=user.id, channel="telegram", external_id=external_id))
    proposal.support_deadline = utcnow() - timedelta(hours=1)
    session.commit()
    svc.archive_expired_proposals(session)
    session.commit()
    secret = create_api_key(session, name="bot", scopes=["channel:telegram"]).secret
    session.commit()
    feed = client.get(
        "/api/v1/notifications?channel=telegram",
        headers={"Authorization": f"Bearer {secret}"},
    ).json["items"]
    notes = {item["recipient"]: item for item in feed if item["event"] == "proposal_archived"}
    assert notes["telegram:9001"]["note"].startswith(EN_ARCHIVED)
    assert notes["telegram:9002"]["note"].startswith(ZH_ARCHIVED)
    assert notes["telegram:9001"]["message"] == notes["telegram:9002"]["message"]
    assert notes["telegram:9001"]["message"]["code"] == "proposal_archived"


def test_rows_written_before_codes_read_as_stored(  # type: ignore[no-untyped-def]
    client, session, settings, make_proposal, resident, read_key
) -> None:
    """An event from before the change has its text in ``note`` and no message: every reader
    sees that text. A withdrawal's reason is the author's words, never translated."""
    proposal = make_proposal()
    author = proposal.author
    svc.withdraw_proposal(session, proposal=proposal, user=author, reason="已与物业协商解决")
    session.add(
        ProposalEvent(
            proposal_id=proposal.id,
            type="progress",
            note="附议期已于 2026-01-01 结束（旧记录）",
            data={},
            created_at=utcnow(),
        )
    )
    # A code this version does not know falls back to the note it was written with.
    session.add(
        ProposalEvent(
            proposal_id=proposal.id,
            type="progress",
            note="来自未来版本的说明",
            data={"message": {"code": "from_a_later_version", "args": {}}},
            created_at=utcnow(),
        )
    )
    session.commit()
    headers = {"Authorization": f"Bearer {read_key}"}
    for lang in ("zh_Hans_CN", "en"):
        html = _get(client, f"/proposals/{proposal.id}", lang).get_data(as_text=True)
        assert "附议期已于 2026-01-01 结束（旧记录）" in html and "来自未来版本的说明" in html
        assert "已与物业协商解决" in html
        body = _get(client, f"/api/v1/proposals/{proposal.id}", lang, headers=headers).json
        notes = [item["note"] for item in body["timeline"]]
        assert "附议期已于 2026-01-01 结束（旧记录）" in notes and "来自未来版本的说明" in notes
        assert body["closed_reason"] == "已与物业协商解决"
        assert body["closed_reason_message"] is None
        assert body["timeline"][-2]["message"] is None
