"""The buttons on a proposal's flashed through the test client: what each one changes, the message
it flashes, where it leads back to, and what happens when the service refuses."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.deliberation.models import Comment, Proposal, ProposalFollower
from tests.deliberation.test_web import login


def press(client: Any, url: str, **data: Any) -> tuple[str, str]:
    """POST ``url``; return where it leads back to and the messages flashed there, one a line
    (``error: …`` / ``success: …``)."""
    response = client.post(url, data=data)
    assert response.status_code == 302, response.status_code
    back = response.headers["Location"]
    page = client.get(back).get_data(as_text=True)
    shown = re.findall(r'class="flash flash-(\w+)" role="status">(.*?)</div>', page, re.S)
    return back, "\n".join(f"{kind}: {html.unescape(text)}" for kind, text in shown)


def test_support_unsupport_follow_unfollow(client, session, settings, resident, make_proposal):  # type: ignore[no-untyped-def]
    settings(proposal_support_threshold=5)
    proposal = make_proposal()
    url = f"/proposals/{proposal.id}"
    me = resident()
    login(client, me)

    back, flashed = press(client, f"{url}/support")
    assert back.endswith(url) and flashed == "success: Thank you for your support."
    session.expire_all()
    assert session.get(Proposal, proposal.id).support_count == 1
    back, flashed = press(client, f"{url}/unsupport")
    assert back.endswith(url) and flashed == "success: Your support is withdrawn."
    session.expire_all()
    assert session.get(Proposal, proposal.id).support_count == 0

    mine = select(ProposalFollower).where(
        ProposalFollower.proposal_id == proposal.id, ProposalFollower.user_id == me.id
    )
    _, flashed = press(client, f"{url}/follow", action="unfollow")
    assert flashed == "success: You no longer follow this proposal."
    assert session.scalars(mine).first() is None
    _, flashed = press(client, f"{url}/follow")
    assert flashed == "success: You follow this proposal: you are told about every step."
    assert session.scalars(mine).first() is not None


def test_a_refused_button_flashes_the_reason_and_changes_nothing(
    client, session, make_proposal, resident
):  # type: ignore[no-untyped-def]
    proposal = make_proposal()
    url = f"/proposals/{proposal.id}"
    login(client, resident())
    back, flashed = press(client, f"{url}/withdraw", reason="不想要了")
    assert back.endswith(url) and flashed == "error: Only the author can withdraw a proposal."
    session.expire_all()
    assert session.get(Proposal, proposal.id).status != "withdrawn"
    # No such proposal: 404 on every button, nothing flashed.
    for button in ("support", "unsupport", "follow", "withdraw", "answer", "progress"):
        assert client.post(f"/proposals/999999/{button}").status_code == 404, button


def test_author_withdraws_with_a_reason(client, session, make_proposal, resident):  # type: ignore[no-untyped-def]
    author = resident()
    proposal = make_proposal(author=author)
    login(client, author)
    back, flashed = press(client, f"/proposals/{proposal.id}/withdraw", reason="已有别的方案")
    assert (
        back.endswith(f"/proposals/{proposal.id}")
        and flashed == "success: The proposal is withdrawn."
    )
    session.expire_all()
    assert session.get(Proposal, proposal.id).status == "withdrawn"


def test_department_answers_implements_and_records_progress(
    client, session, settings, resident, make_proposal, make_user
):  # type: ignore[no-untyped-def]
    settings(proposal_support_threshold=1)
    proposal = make_proposal()
    url = f"/proposals/{proposal.id}"
    login(client, resident())
    press(client, f"{url}/support")  # the threshold: routed to the transport bureau
    clerk = make_user(role="staff", department="transport")
    login(client, clerk)

    answer = "同意在东门增设公交站点，年底前完成。"
    _, flashed = press(client, f"{url}/answer", outcome="accepted", answer="同意。", reasons="客流")
    assert flashed == "error: The answer is too short: write at least 10 characters."
    session.expire_all()
    assert session.get(Proposal, proposal.id).status != "answered"
    _, flashed = press(
        client, f"{url}/answer", outcome="accepted", answer=answer, reasons="客流充足"
    )
    assert flashed == "success: The answer is published."
    _, flashed = press(client, f"{url}/implementation", plan="年底前设临时站点")
    assert flashed == "success: Implementation started."

    _, flashed = press(client, f"{url}/progress", progress="四十", milestone="站牌已采购")
    assert flashed == "error: Progress is a whole number from 0 to 100."
    _, flashed = press(client, f"{url}/progress", progress="40", on_date="2026/11/30")
    assert flashed == "error: Give the date as YYYY-MM-DD."
    back, flashed = press(
        client, f"{url}/progress", progress="40", milestone="站牌已采购", on_date="2026-11-30"
    )
    assert back.endswith(url) and flashed == "success: Progress recorded."
    session.expire_all()
    assert session.get(Proposal, proposal.id).progress == 40


def test_report_a_proposal_or_nothing(client, session, make_proposal, resident):  # type: ignore[no-untyped-def]
    proposal = make_proposal()
    login(client, resident())
    back, flashed = press(client, f"/report/proposal/{proposal.id}", reason="广告")
    assert back.endswith(f"/proposals/{proposal.id}")
    assert flashed == "success: Thank you: moderators will look at your report."
    session.expire_all()
    assert session.get(Proposal, proposal.id).report_count == 1
    assert client.post(f"/report/case/{proposal.id}").status_code == 404
    assert client.post("/report/proposal/999999").status_code == 404
    assert client.post("/report/comment/999999").status_code == 404


def test_comment_buttons_lead_back_to_the_comment(client, session, make_proposal, resident):  # type: ignore[no-untyped-def]
    proposal = make_proposal()
    me = resident()
    login(client, me)
    _, flashed = press(
        client, f"/proposals/{proposal.id}/comments", body="第一条意见", stance="for"
    )
    assert flashed == "success: Your comment is posted."
    comment = session.scalars(select(Comment)).one()
    back, flashed = press(client, f"/comments/{comment.id}/like")
    assert back.endswith(f"/proposals/{proposal.id}#c{comment.id}") and flashed == ""
    back, flashed = press(client, f"/comments/{comment.id}/like", action="unlike")
    assert back.endswith(f"#c{comment.id}") and flashed == ""
    session.expire_all()
    assert session.get(Comment, comment.id).like_count == 0
    back, flashed = press(client, f"/comments/{comment.id}/delete")
    assert back.endswith(f"#c{comment.id}") and flashed == "success: Your comment is deleted."
    assert client.post("/comments/999999/delete").status_code == 404
    assert client.post("/comments/999999/like").status_code == 404


def test_moderation_decisions_that_do_not_apply(client, session, make_proposal, make_user):  # type: ignore[no-untyped-def]
    make_proposal()
    login(client, make_user(role="moderator"))
    _, flashed = press(client, "/moderation/decide", target_type="comment", target_id="x")
    assert flashed == "error: Choose what to do."
    missing = {"target_type": "comment", "target_id": "999999", "decision": "block"}
    assert client.post("/moderation/decide", data=missing).status_code == 404
    unknown = {"target_type": "case", "target_id": "1", "decision": "block"}
    assert client.post("/moderation/decide", data=unknown).status_code == 404
    assert session.scalars(select(AuditEntry)).all() == []


def test_a_closed_thread_offers_no_comment_reply_or_edit(client, session, make_proposal, resident):  # type: ignore[no-untyped-def]
    author = resident()
    proposal = make_proposal(author=author)
    login(client, author)
    url = f"/proposals/{proposal.id}"
    _, flashed = press(client, f"{url}/comments", body="补充一点意见", stance="for")
    assert flashed == "success: Your comment is posted."
    comment = session.scalars(select(Comment)).one()
    open_page = client.get(url).get_data(as_text=True)
    assert f'action="{url}/comments"' in open_page and f"/comments/{comment.id}/edit" in open_page
    press(client, f"{url}/withdraw", reason="已有别的方案")
    page = client.get(url).get_data(as_text=True)
    assert "This proposal is closed for comments." in page
    assert f'action="{url}/comments"' not in page  # no comment or reply form
    assert f"/comments/{comment.id}/edit" not in page  # no edit link
    assert "补充一点意见" in page  # the discussion itself stays readable
