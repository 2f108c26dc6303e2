"""Retention of the discussion threads of closed cases: after the raw-text period every comment
(replies, hidden, held and deleted ones included) is replaced by its ``nlp.mask_pii`` text and the
thread is closed; cases that an earlier run (before the ``comments`` step existed) already
processed are reached too. Idempotent, crash-safe (killed mid-run, re-run: no half-masked
thread), audited and shown in the CLI summary."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit.models import AuditEntry
from portal.cases.models import Case
from portal.cases.tracking import format_tracking_number
from portal.deliberation.models import HELD, HIDDEN, Comment
from portal.deliberation.threads import (
    case_thread_retained,
    delete_comment,
    edit_comment,
    post_comment,
)
from portal.errors import InvalidTransition
from portal.privacy.models import RetentionMark
from portal.privacy.retention import CRASH_ENV, run_retention
from portal.privacy.services import round_coordinate
from tests.factories import create_user
from tests.privacy.conftest import CANARY_ID_NUMBER, CANARY_NAME, CANARY_PHONE
from tests.privacy.test_retention import MASKED, _run_cli, add_closed_cases
from tests.web.conftest import sign_in

COMMENT = f"我也住这栋楼，我叫{CANARY_NAME}，有事打我电话{CANARY_PHONE}，身份证{CANARY_ID_NUMBER}。"
PLAIN_COMMENT = "同意，这个路灯坏了很久了。"
EARLIER_STEPS = ("contacts", "raw_text", "coordinates")


def _has_personal_data(text: str | None) -> bool:
    return any(v in (text or "") for v in (CANARY_NAME, CANARY_PHONE, CANARY_ID_NUMBER))


def processed_before_the_comments_step(session: Session, prefix: str) -> None:
    """What a run from before the ``comments`` step left on the cases named ``prefix-*``: the
    three earlier steps applied and marked, the thread untouched."""
    cases = session.scalars(select(Case).where(Case.tracking_number.startswith(f"{prefix}-")))
    for case in cases:
        session.delete(case.contact)
        case.contact = None
        case.text_raw, case.address_text = case.text_masked, None
        case.lat, case.lon = round_coordinate(case.lat), round_coordinate(case.lon)
        for data_class in EARLIER_STEPS:
            session.add(RetentionMark(case_id=case.id, data_class=data_class, run_id=None))
    session.commit()


def _case(session: Session, tracking_number: str) -> Case:
    case = session.scalar(select(Case).where(Case.tracking_number == tracking_number))
    assert case is not None
    return case


def _bodies(session: Session, case: Case) -> list[str]:
    return list(
        session.scalars(select(Comment.body).where(Comment.case_id == case.id).order_by(Comment.id))
    )


def test_closed_case_threads_lose_their_personal_data(
    app, session, jurisdiction, make_user, client
) -> None:  # type: ignore[no-untyped-def]
    commenter, neighbour = make_user(verification_level=2), make_user(verification_level=2)
    add_closed_cases(session, 1, closed_days_ago=400, prefix="OLD")
    add_closed_cases(session, 1, closed_days_ago=400, prefix="EARLIER")
    add_closed_cases(session, 1, closed_days_ago=10, prefix="NEW")
    add_closed_cases(session, 1, closed_days_ago=400, prefix="REOPENED")
    old, earlier = _case(session, "OLD-0"), _case(session, "EARLIER-0")
    new, reopened = _case(session, "NEW-0"), _case(session, "REOPENED-0")
    old.tracking_number = format_tracking_number("SZ", "2510", 1)  # one the web pages accept

    top = post_comment(session, author=commenter, body=COMMENT, case=old)
    post_comment(session, author=commenter, body=PLAIN_COMMENT, case=old)
    reply = post_comment(session, author=neighbour, body=COMMENT, case=old, parent_id=top.id)
    post_comment(session, author=commenter, body=COMMENT, case=old, parent_id=reply.id)
    deleted = post_comment(session, author=commenter, body=COMMENT, case=old)
    delete_comment(session, comment=deleted, user=commenter)
    post_comment(session, author=commenter, body=COMMENT, case=old).moderation = HIDDEN
    post_comment(session, author=neighbour, body=COMMENT, case=old).moderation = HELD
    late = post_comment(session, author=commenter, body=COMMENT, case=old)  # still editable
    for case in (earlier, new, reopened):
        post_comment(session, author=commenter, body=COMMENT, case=case)
        post_comment(session, author=neighbour, body=PLAIN_COMMENT, case=case)
    reopened.status, reopened.closed_at = "accepted", None  # not closed any more: not due
    session.commit()
    processed_before_the_comments_step(session, "EARLIER")

    factory = app.extensions["db"].session_factory
    summary = run_retention(factory)
    assert summary.cases == 2
    assert summary.steps == {"contacts": 1, "raw_text": 1, "coordinates": 1, "comments": 2}
    assert summary.case_comments_masked == 7 + 1  # all but the plain one in OLD; one in EARLIER
    assert (summary.proposals, summary.comments_masked) == (0, 0)

    session.expire_all()
    for case in (old, earlier):
        bodies = _bodies(session, case)
        assert bodies and not any(_has_personal_data(b) for b in bodies), bodies
        assert all(b.startswith(("我也住这栋楼", "同意")) for b in bodies), bodies
        assert PLAIN_COMMENT in bodies
        assert case_thread_retained(session, case.id)
    assert len(_bodies(session, old)) == 8  # masked in place: none deleted
    assert session.get(Comment, deleted.id).deleted_at is not None
    assert session.get(Comment, reply.id).author_id == neighbour.id
    marks = session.execute(select(RetentionMark.case_id, RetentionMark.data_class)).all()
    assert sorted(marks) == sorted(
        [(old.id, c) for c in (*EARLIER_STEPS, "comments")]
        + [(earlier.id, c) for c in (*EARLIER_STEPS, "comments")]
    )
    assert earlier.text_raw == MASKED  # the earlier steps are not applied again
    for case in (new, reopened):
        assert _bodies(session, case) == [COMMENT, PLAIN_COMMENT]
        assert not case_thread_retained(session, case.id)

    # The processed threads are closed: no new comment, reply or edit (it would keep its
    # personal data); the others stay open.
    for case in (old, earlier):
        with pytest.raises(InvalidTransition) as closed:
            post_comment(session, author=neighbour, body=PLAIN_COMMENT, case=case)
        assert closed.value.code == "thread_closed"
        session.rollback()
    with pytest.raises(InvalidTransition):
        post_comment(session, author=neighbour, body=COMMENT, case=old, parent_id=top.id)
    session.rollback()
    with pytest.raises(InvalidTransition):
        edit_comment(session, comment=session.get(Comment, late.id), user=commenter, body=COMMENT)
    session.rollback()
    assert not _has_personal_data(session.get(Comment, late.id).body)
    post_comment(session, author=neighbour, body=PLAIN_COMMENT, case=new)
    session.commit()

    # The web form says so (no stack trace, nothing stored).
    sign_in(client, neighbour.email)
    refused = client.post(
        f"/cases/{old.tracking_number}/comments",
        data={"body": COMMENT, "stance": "for"},
        follow_redirects=True,
    )
    page = refused.get_data(as_text=True)
    assert "This case is closed for comments." in page
    # ...and the case page shows the thread but no longer offers a comment or reply form
    assert 'id="thread"' in page and refused.request.path == f"/cases/{old.tracking_number}"
    assert f'action="/cases/{old.tracking_number}/comments"' not in page
    session.expire_all()
    assert len(_bodies(session, old)) == 8

    # Idempotent: nothing due, nothing masked twice.
    again = run_retention(factory)
    assert (again.cases, again.case_comments_masked) == (0, 0)
    runs = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "retention_run").order_by(AuditEntry.id)
    ).all()
    assert [r.after["phase"] for r in runs] == ["started", "finished"] * 2
    assert runs[0].after["days"]["comments"] == 365
    assert runs[1].after["case_comments_masked"] == 8
    assert runs[1].after["steps"] == {"contacts": 1, "raw_text": 1, "coordinates": 1, "comments": 2}
    assert runs[3].after["cases"] == 0 and runs[3].after["case_comments_masked"] == 0
    assert {
        m.run_id
        for m in session.scalars(
            select(RetentionMark).where(RetentionMark.data_class == "comments")
        )
    } == {runs[0].id}


# --- crash safety -------------------------------------------------------------------------------


def add_comments(session: Session, prefix: str) -> None:
    """Two comments (one with personal data) and a reply with personal data on each case."""
    author_id = create_user(session, verification_level=2).id
    for case_id in session.scalars(
        select(Case.id).where(Case.tracking_number.startswith(f"{prefix}-")).order_by(Case.id)
    ):
        first = Comment(case_id=case_id, author_id=author_id, body=COMMENT)
        session.add_all([first, Comment(case_id=case_id, author_id=author_id, body=PLAIN_COMMENT)])
        session.flush()
        session.add(
            Comment(case_id=case_id, author_id=author_id, body=COMMENT, parent_id=first.id, depth=2)
        )
    session.commit()


def thread_states(session: Session) -> list[str]:
    """``"done"`` | ``"untouched"`` per case thread; anything else is a half-masked thread."""
    session.expire_all()
    states = []
    for case_id in session.scalars(select(Case.id).order_by(Case.id)):
        marked = session.scalar(
            select(RetentionMark.id).where(
                RetentionMark.case_id == case_id, RetentionMark.data_class == "comments"
            )
        )
        bodies = session.scalars(select(Comment.body).where(Comment.case_id == case_id)).all()
        masked = [not _has_personal_data(b) for b in bodies]
        if marked and all(masked):
            states.append("done")
        elif not marked and masked == [False, True, False]:
            states.append("untouched")
        else:
            states.append(f"HALF #{case_id}: marked={marked is not None} masked={masked}")
    return states


def test_killed_comments_step_then_rerun_leaves_no_half_masked_thread(
    app, session, jurisdiction, db_url, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Cases processed before the step existed: the run that adds it is killed in the middle of
    the 13th case's transaction (flushed, not committed); the re-run finishes the rest."""
    add_closed_cases(session, 30, closed_days_ago=400, prefix="K")
    processed_before_the_comments_step(session, "K")
    add_comments(session, "K")
    instance = tmp_path / "cli-instance"
    killed = _run_cli(db_url, instance, **{CRASH_ENV: "12"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    states = thread_states(session)
    assert not [s for s in states if s.startswith("HALF")], states
    assert states.count("done") == 12  # the 13th was killed before its commit

    finished = _run_cli(db_url, instance)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert (
        "18 cases anonymised (contacts 0, raw_text 0, coordinates 0, comments 18; "
        "36 comments masked)" in finished.stdout
    ), finished.stdout
    assert set(thread_states(session)) == {"done"}
    bodies = session.scalars(select(Comment.body)).all()
    assert len(bodies) == 90 and bodies.count(PLAIN_COMMENT) == 30
    rerun = _run_cli(db_url, instance)
    assert rerun.returncode == 0 and "0 cases anonymised" in rerun.stdout


def test_privacy_notice_states_the_case_comment_rule(client, session) -> None:  # type: ignore[no-untyped-def]
    from portal.jurisdiction.services import set_setting

    set_setting(session, "retention_raw_text_days", 400)
    session.commit()
    html = client.get("/privacy?lang=en").get_data(as_text=True)
    assert (
        "Comments on a case page: 400 days after the case is closed, names, phone numbers and "
        "similar details in them are hidden and the discussion is closed." in html
    )
