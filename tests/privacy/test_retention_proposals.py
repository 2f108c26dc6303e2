"""Retention of finished proposals: the author's original text and the personal data in the
thread's comments go after the raw-text period, the point is rounded after the coordinates
period; open or recently finished proposals keep theirs. Idempotent, crash-safe (killed mid-run,
re-run: no half-anonymised proposal), audited and shown in the CLI summary."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import nlp
from portal.audit.models import AuditEntry
from portal.db import utcnow
from portal.deliberation import lifecycle as lc
from portal.deliberation.models import HIDDEN, Comment, Proposal, ProposalEvent
from portal.deliberation.services import (
    archive_expired_proposals,
    create_proposal,
    withdraw_proposal,
)
from portal.deliberation.threads import delete_comment, edit_comment, post_comment
from portal.errors import InvalidTransition
from portal.jurisdiction.models import Category
from portal.jurisdiction.services import set_setting
from portal.privacy.models import ProposalRetentionMark
from portal.privacy.retention import CRASH_ENV, run_retention
from tests.factories import create_user
from tests.privacy.conftest import CANARY_ID_NUMBER, CANARY_NAME, CANARY_PHONE
from tests.privacy.test_retention import _run_cli, add_closed_cases, case_states

BODY = (
    f"建议在青松社区东门增设一个公交站点，方便老人和学生出行。我是{CANARY_NAME}，"
    f"电话{CANARY_PHONE}，欢迎联系。"
)
COMMENT = f"同意！我也住这里，有事打我电话{CANARY_PHONE}，身份证{CANARY_ID_NUMBER}。"
PLAIN_COMMENT = "支持这个建议，东门确实需要一个站点。"
LAT, LON = 28.2403456, 112.9301234
OLD, RECENT = 400, 10  # days since the proposal was finished


def _backdate(session: Session, proposal: Proposal, days: int) -> None:
    """Move the event that gave the proposal its present status ``days`` into the past."""
    session.execute(
        update(ProposalEvent)
        .where(ProposalEvent.proposal_id == proposal.id, ProposalEvent.to_status == proposal.status)
        .values(created_at=utcnow() - timedelta(days=days))
    )


def _finish(session: Session, proposal: Proposal, status: str, days: int, **values: Any) -> None:
    """Give ``proposal`` a final status directly (the routing and answering steps are not what is
    tested here), with the event that would have recorded it ``days`` ago."""
    proposal.status = status
    for key, value in values.items():
        setattr(proposal, key, value)
    session.add(
        ProposalEvent(
            proposal_id=proposal.id,
            type={"answered": "answer", "done": "complete"}[status],
            to_status=status,
            created_at=utcnow() - timedelta(days=days),
        )
    )
    session.flush()


def _has_personal_data(text: str | None) -> bool:
    return any(v in (text or "") for v in (CANARY_NAME, CANARY_PHONE, CANARY_ID_NUMBER))


def test_finished_proposals_lose_their_personal_data(app, session, jurisdiction, make_user) -> None:  # type: ignore[no-untyped-def]
    author, commenter = make_user(verification_level=2), make_user(verification_level=2)

    def propose(title: str) -> Proposal:
        return create_proposal(
            session,
            author=author,
            title=title,
            body=BODY,
            category_code="G03-03",
            area_code="LJ-WS-01",
            lat=LAT,
            lon=LON,
        )

    withdrawn = propose("东门增设公交站（撤回）")
    for text in (COMMENT, PLAIN_COMMENT):
        post_comment(session, author=commenter, body=text, proposal=withdrawn)
    parent = post_comment(session, author=commenter, body=COMMENT, proposal=withdrawn)
    post_comment(session, author=author, body=COMMENT, proposal=withdrawn, parent_id=parent.id)
    deleted = post_comment(session, author=commenter, body=COMMENT, proposal=withdrawn)
    delete_comment(session, comment=deleted, user=commenter)
    hidden = post_comment(session, author=commenter, body=COMMENT, proposal=withdrawn)
    hidden.moderation = HIDDEN
    withdraw_proposal(session, proposal=withdrawn, user=author, reason="已经有人反映过了")
    _backdate(session, withdrawn, OLD)

    archived = propose("东门增设公交站（到期）")
    post_comment(session, author=commenter, body=COMMENT, proposal=archived)
    archived.support_deadline = utcnow() - timedelta(days=1)
    session.flush()
    assert archive_expired_proposals(session) == [archived]
    _backdate(session, archived, OLD)

    rejected = propose("东门增设公交站（不采纳）")
    _finish(session, rejected, lc.ANSWERED, OLD, answer_outcome="rejected",
            answer_text="经研究，暂不采纳。", answer_reasons="东门道路宽度不足。")  # fmt: skip
    done = propose("东门增设公交站（已完成）")
    _finish(session, done, lc.DONE, OLD, answer_outcome="accepted", answer_text="采纳。")
    late = post_comment(session, author=commenter, body=COMMENT, proposal=done)  # still editable

    accepted = propose("东门增设公交站（实施中）")  # answered and accepted: not finished
    _finish(session, accepted, lc.ANSWERED, OLD, answer_outcome="accepted", answer_text="采纳。")
    recent = propose("东门增设公交站（刚完成）")
    _finish(session, recent, lc.DONE, RECENT, answer_outcome="accepted", answer_text="采纳。")
    post_comment(session, author=commenter, body=COMMENT, proposal=recent)
    still_open = propose("东门增设公交站（征集中）")
    session.execute(
        update(ProposalEvent)
        .where(ProposalEvent.proposal_id == still_open.id)
        .values(created_at=utcnow() - timedelta(days=OLD))
    )
    post_comment(session, author=commenter, body=COMMENT, proposal=still_open)
    # The coordinates period is longer here: only the text is due for the old proposals.
    set_setting(session, "retention_coordinates_days", 500)
    session.commit()
    finished = [withdrawn, archived, rejected, done]
    kept = [accepted, recent, still_open]

    factory = app.extensions["db"].session_factory
    summary = run_retention(factory)
    assert (summary.cases, summary.proposals) == (0, 4)
    assert summary.proposal_steps == {"raw_text": 4, "coordinates": 0}
    assert (
        summary.comments_masked == 7
    )  # 5 in the withdrawn thread, 1 archived, 1 done; not the plain one

    session.expire_all()
    for proposal in finished:
        assert proposal.body_raw == proposal.body_masked and not _has_personal_data(
            proposal.body_raw
        )
        assert proposal.body_masked.startswith("建议在青松社区东门增设一个公交站点")
        assert (proposal.lat, proposal.lon) == (LAT, LON)  # not due yet
        assert proposal.author_id == author.id
        comments = session.scalars(select(Comment).where(Comment.proposal_id == proposal.id))
        for comment in comments:
            assert not _has_personal_data(comment.body), comment.body
            assert comment.body.startswith(("同意！", "支持这个建议"))
    withdrawn_bodies = session.scalars(
        select(Comment.body).where(Comment.proposal_id == withdrawn.id).order_by(Comment.id)
    ).all()
    assert PLAIN_COMMENT in withdrawn_bodies and len(withdrawn_bodies) == 6
    assert (
        rejected.answer_text == "经研究，暂不采纳。"
        and rejected.answer_reasons == "东门道路宽度不足。"
    )
    assert withdrawn.closed_reason == "已经有人反映过了"
    for proposal in kept:
        assert proposal.body_raw == BODY
        comments = session.scalars(select(Comment.body).where(Comment.proposal_id == proposal.id))
        assert all(body == COMMENT for body in comments)

    # The processed thread is closed (a new comment would keep its personal data); others not.
    with pytest.raises(InvalidTransition) as closed:
        post_comment(session, author=commenter, body=COMMENT, proposal=done)
    assert closed.value.code == "thread_closed"
    session.rollback()
    with pytest.raises(InvalidTransition):
        edit_comment(session, comment=session.get(Comment, late.id), user=commenter, body=COMMENT)
    session.rollback()
    post_comment(session, author=commenter, body=PLAIN_COMMENT, proposal=recent)
    session.commit()

    # Later, the coordinates come due too: only that step runs, nothing is masked twice.
    set_setting(session, "retention_coordinates_days", 365)
    session.commit()
    second = run_retention(factory)
    assert (second.proposals, second.proposal_steps) == (4, {"raw_text": 0, "coordinates": 4})
    assert second.comments_masked == 0
    session.expire_all()
    assert all((p.lat, p.lon) == (28.24, 112.93) for p in finished)
    assert all((p.lat, p.lon) == (LAT, LON) for p in kept)
    marks = session.scalars(select(ProposalRetentionMark).order_by(ProposalRetentionMark.id))
    assert sorted((m.proposal_id, m.data_class) for m in marks) == sorted(
        (p.id, c) for p in finished for c in ("raw_text", "coordinates")
    )
    third = run_retention(factory)
    assert (third.cases, third.proposals, third.comments_masked) == (0, 0, 0)

    runs = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "retention_run").order_by(AuditEntry.id)
    ).all()
    assert [r.after["phase"] for r in runs] == ["started", "finished"] * 3
    assert runs[1].after["proposals"] == 4 and runs[1].after["comments_masked"] == 7
    assert runs[1].after["proposal_steps"] == {"raw_text": 4, "coordinates": 0}
    assert runs[3].after["proposal_steps"] == {"raw_text": 0, "coordinates": 4}
    assert {m.run_id for m in session.scalars(select(ProposalRetentionMark))} == {
        runs[0].id,
        runs[2].id,
    }


# --- crash safety -------------------------------------------------------------------------------


def add_finished_proposals(session: Session, count: int, *, finished_days_ago: int) -> None:
    """Done proposals with two comments each (one with personal data), inserted directly."""
    category_id = session.scalar(select(Category.id).where(Category.code == "G03-03"))
    author_id = create_user(session, verification_level=2).id
    finished_at = utcnow() - timedelta(days=finished_days_ago)
    for n in range(count):
        proposal = Proposal(
            title=f"提议 {n}",
            body_raw=BODY,
            body_masked=nlp.mask_pii(BODY).text,
            category_id=category_id,
            author_id=author_id,
            lat=LAT,
            lon=LON,
            status=lc.DONE,
            support_threshold=2,
            support_deadline=finished_at - timedelta(days=30),
            created_at=finished_at - timedelta(days=60),
        )
        proposal.events = [
            ProposalEvent(type="create", to_status=lc.OPEN, created_at=proposal.created_at),
            ProposalEvent(type="complete", to_status=lc.DONE, created_at=finished_at),
        ]
        session.add(proposal)
        session.flush()
        for body in (COMMENT, PLAIN_COMMENT):
            session.add(Comment(proposal_id=proposal.id, author_id=author_id, body=body))
    session.commit()


def proposal_states(session: Session) -> list[str]:
    """``"done"`` | ``"untouched"`` per proposal; anything else is a half-anonymised proposal."""
    session.expire_all()
    states = []
    for proposal in session.scalars(select(Proposal).order_by(Proposal.id)):
        marks = set(
            session.scalars(
                select(ProposalRetentionMark.data_class).where(
                    ProposalRetentionMark.proposal_id == proposal.id
                )
            )
        )
        bodies = session.scalars(select(Comment.body).where(Comment.proposal_id == proposal.id))
        done = (
            proposal.body_raw == proposal.body_masked,
            not any(_has_personal_data(b) for b in bodies),
            (proposal.lat, proposal.lon) == (28.24, 112.93),
        )
        if marks == {"raw_text", "coordinates"} and all(done):
            states.append("done")
        elif not marks and not any(done):
            states.append("untouched")
        else:
            states.append(f"HALF #{proposal.id}: marks={sorted(marks)} done={done}")
    return states


def test_killed_mid_run_then_rerun_leaves_no_half_anonymised_proposal(
    app, session, jurisdiction, db_url, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    add_closed_cases(session, 5, closed_days_ago=400, prefix="K")
    add_finished_proposals(session, 30, finished_days_ago=400)
    instance = tmp_path / "cli-instance"
    killed = _run_cli(db_url, instance, **{CRASH_ENV: "17"})  # 5 cases, 12 proposals, then dead
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert set(case_states(session).values()) == {"done"}
    states = proposal_states(session)
    assert not [s for s in states if s.startswith("HALF")], states
    assert states.count("done") == 12  # the 13th was killed before its commit

    finished = _run_cli(db_url, instance)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "0 cases anonymised" in finished.stdout
    assert "18 proposals anonymised (raw_text 18, coordinates 18; 18 comments masked)" in (
        finished.stdout
    )
    assert set(proposal_states(session)) == {"done"}
    rerun = _run_cli(db_url, instance)
    assert rerun.returncode == 0 and "0 proposals anonymised" in rerun.stdout


def test_privacy_notice_states_the_proposal_rule(client, session) -> None:  # type: ignore[no-untyped-def]
    set_setting(session, "retention_raw_text_days", 400)
    set_setting(session, "retention_coordinates_days", 500)
    session.commit()
    html = client.get("/privacy?lang=en").get_data(as_text=True)
    assert "Proposals and their comments: 400 days after a proposal is finished" in html
    assert "rounded to about 100 metres 500 days after it is finished" in html
