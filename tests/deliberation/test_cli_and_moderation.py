"""The deliberation CLI (archiving is idempotent and says why; codes; area terms) and the
moderation of whole proposals."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.db import utcnow
from portal.deliberation import lifecycle as lc
from portal.deliberation.models import AreaParticipationRule, Proposal, VerificationCode
from portal.deliberation.moderation import hide_content, moderation_queue, report_content
from portal.deliberation.overview import proposal_detail
from portal.deliberation.participation import redeem_verification_code
from portal.deliberation.services import list_proposals


def test_archive_expired_proposals_command(app, session, settings, make_proposal, resident) -> None:  # type: ignore[no-untyped-def]
    settings(proposal_support_threshold=3)
    expired = make_proposal()
    current = make_proposal()
    expired.support_deadline = utcnow() - timedelta(hours=1)
    session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["archive-expired-proposals"])
    assert first.exit_code == 0, first.output
    assert "archived 1 proposal(s)" in first.output and f"#{expired.id} 0/3" in first.output
    second = runner.invoke(args=["archive-expired-proposals"])
    assert "archived 0 proposal(s)" in second.output
    session.expire_all()
    assert session.get(Proposal, expired.id).status == lc.ARCHIVED
    assert session.get(Proposal, current.id).status == lc.OPEN
    detail = proposal_detail(session, session.get(Proposal, expired.id))
    # CLI work runs in the default locale (zh_Hans_CN): the stored public reason is Chinese.
    assert "共获得 0 个附议，未达到所需的 3 个" in detail["closed_reason"]
    assert detail["timeline"][-1]["type"] == "archive" and detail["timeline"][-1]["note"]


def test_issue_codes_and_area_terms_commands(app, session, jurisdiction, resident) -> None:  # type: ignore[no-untyped-def]
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "issue-verification-codes",
            "--count",
            "3",
            "--area",
            "LJ-WS-01",
            "--issued-by",
            "青松社区居委会",
        ]
    )
    assert result.exit_code == 0, result.output
    codes = result.output.split()
    assert len(codes) == 3 and len(set(codes)) == 3
    stored = session.scalars(select(VerificationCode)).all()
    assert len(stored) == 3 and all(code not in {v.code_hash for v in stored} for code in codes)
    me = resident(level=0)
    redeem_verification_code(session, user=me, code=codes[0])
    session.commit()
    assert me.verification_level == 2
    bad = runner.invoke(args=["issue-verification-codes", "--count", "0", "--issued-by", "x"])
    assert bad.exit_code != 0 and "1 至 500" in bad.output
    terms = runner.invoke(
        args=["set-area-participation", "LJ-WS", "--threshold", "25", "--window-days", "45"]
    )
    assert terms.exit_code == 0, terms.output
    rule = session.scalars(select(AreaParticipationRule)).one()
    assert (rule.support_threshold, rule.support_window_days) == (25, 45)
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"verification.issue_codes", "deliberation.area_terms"} <= actions


def test_reported_proposal_is_held_then_hidden_with_placeholder(
    client, session, settings, make_proposal, resident, make_user
) -> None:  # type: ignore[no-untyped-def]
    settings(moderation_report_threshold=2)
    author = resident()
    proposal = make_proposal(author=author, title="一个有问题的提议")
    for _ in range(2):
        assert report_content(
            session,
            reporter=resident(),
            target_type="proposal",
            target_id=proposal.id,
            reason="广告",
        )
    session.commit()
    assert proposal.moderation == "held"
    assert list_proposals(session).total == 0  # held proposals leave the lists
    queue = moderation_queue(session)
    assert [(i.target_type, i.item.id) for i in queue.items] == [("proposal", proposal.id)]
    moderator = make_user(role="moderator")
    hide_content(
        session,
        moderator=moderator,
        target_type="proposal",
        target_id=proposal.id,
        reason="商业广告",
    )
    session.commit()
    html = client.get(f"/proposals/{proposal.id}").get_data(as_text=True)
    assert "Hidden by moderator." in html and "一个有问题的提议" not in html
    assert session.scalar(select(AuditEntry.action)) == "moderation.hide"
