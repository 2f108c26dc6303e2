"""Account erasure and the resident's comments on case and proposal threads: their text loses the
personal data ``nlp.mask_pii`` finds (hidden and deleted ones too), they keep their place in the
thread, and their author shows as the erased account's "—", on the web and through the API.
Other people's comments are not touched."""

from __future__ import annotations

from sqlalchemy import select

from portal import permissions
from portal.accounts.models import ChannelIdentity
from portal.api.openapi import openapi_document
from portal.audit.models import AuditEntry
from portal.cases.models import Case
from portal.deliberation.models import HIDDEN, Comment
from portal.deliberation.services import create_proposal
from portal.deliberation.threads import comment_resource, delete_comment, load_thread, post_comment
from portal.privacy.services import ERASED_DISPLAY_NAME
from tests.factories import DEFAULT_PASSWORD
from tests.privacy.conftest import (
    CANARY_ID_NUMBER,
    CANARY_NAME,
    CANARY_PHONE,
    CANARY_TELEGRAM_ID,
    CANARY_TEXT,
)
from tests.web.conftest import sign_in

COMMENT = f"我住隔壁楼，我叫{CANARY_NAME}，电话{CANARY_PHONE}，身份证{CANARY_ID_NUMBER}。"
PLAIN_COMMENT = "同意，这个问题存在很久了。"
NEIGHBOUR_COMMENT = "我是邻居王芳，电话13811112222，也遇到过。"


def _has_canary(text: str | None) -> bool:
    return any(v in (text or "") for v in (CANARY_NAME, CANARY_PHONE, CANARY_ID_NUMBER))


def test_erasure_masks_the_residents_comments_everywhere(
    client, session, make_user, make_case
) -> None:  # type: ignore[no-untyped-def]
    resident = make_user(display_name=CANARY_NAME, verification_level=2)
    neighbour = make_user(display_name="王芳", verification_level=2)
    case = make_case()
    assert permissions.is_public_case(case)
    proposal = create_proposal(
        session,
        author=make_user(verification_level=2),
        title="东门增设公交站",
        body="建议在青松社区东门增设一个公交站点，方便老人和学生出行。",
        category_code="G03-03",
    )
    theirs = post_comment(session, author=neighbour, body=NEIGHBOUR_COMMENT, case=case)
    mine = [
        post_comment(session, author=resident, body=COMMENT, case=case),
        post_comment(session, author=resident, body=COMMENT, case=case, parent_id=theirs.id),
        post_comment(session, author=resident, body=PLAIN_COMMENT, case=case),
        post_comment(session, author=resident, body=COMMENT, proposal=proposal, stance="for"),
        post_comment(session, author=resident, body=COMMENT, proposal=proposal),
        post_comment(session, author=resident, body=COMMENT, proposal=proposal),
    ]
    delete_comment(session, comment=mine[4], user=resident)
    mine[5].moderation = HIDDEN
    neighbour_reply = post_comment(
        session, author=neighbour, body=NEIGHBOUR_COMMENT, case=case, parent_id=mine[0].id
    )
    session.commit()
    before = client.get(f"/cases/{case.tracking_number}").get_data(as_text=True)
    assert CANARY_NAME in before  # the display name shows beside the comment (and the text)

    sign_in(client, resident.email)
    done = client.post(
        "/privacy/my-data/delete", data={"password": DEFAULT_PASSWORD, "confirmation": "DELETE"}
    )
    assert done.status_code == 302
    session.expire_all()

    for comment in mine:
        comment = session.get(Comment, comment.id)
        assert not _has_canary(comment.body), comment.body
        assert comment.body.startswith(("我住隔壁楼", "同意")), comment.body
        assert comment.author_id == resident.id  # kept, like a case's submitter: the tombstone
    assert session.get(Comment, mine[2].id).body == PLAIN_COMMENT
    assert session.get(Comment, mine[1].id).parent_id == theirs.id
    assert session.get(Comment, mine[3].id).stance == "for"
    assert session.get(Comment, mine[4].id).deleted_at is not None
    assert session.get(Comment, mine[5].id).moderation == HIDDEN
    for other in (theirs, neighbour_reply):  # someone else's words are theirs to erase
        assert session.get(Comment, other.id).body == NEIGHBOUR_COMMENT
    assert session.get(Comment, neighbour_reply.id).parent_id == mine[0].id

    # Public case page and the proposal's thread (API/bot resource): no name, no number.
    page = client.get(f"/cases/{case.tracking_number}").get_data(as_text=True)
    assert not _has_canary(page)
    assert f"<strong>{ERASED_DISPLAY_NAME}</strong>" in page and "王芳" in page
    thread = load_thread(session, proposal_id=proposal.id)
    shown = [comment_resource(node) for node in thread.nodes if node.shown]
    assert shown and all(item["author"] == ERASED_DISPLAY_NAME for item in shown)
    assert not any(_has_canary(str(item)) for item in shown)

    entry = session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "account_erased", AuditEntry.target_id == str(resident.id)
        )
    )
    assert entry is not None and entry.after["comments"] == 6


def test_channel_resident_erasure_through_the_api_masks_comments(
    client, session, jurisdiction
) -> None:  # type: ignore[no-untyped-def]
    from portal.api.services import create_api_key

    key = create_api_key(session, name="bot", scopes=["channel:telegram"]).secret
    session.commit()
    bot = {"Authorization": f"Bearer {key}", "X-Shuzhi-Resident": f"telegram:{CANARY_TELEGRAM_ID}"}
    created = client.post(
        "/api/v1/cases",
        json={"text": CANARY_TEXT, "lat": 28.222, "lon": 112.86},
        headers={**bot, "Idempotency-Key": "erase-comments-1"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    user_id = session.scalar(select(ChannelIdentity.user_id))
    case_id = session.scalar(select(Case.id))
    session.add_all(
        [
            Comment(case_id=case_id, author_id=user_id, body=COMMENT),
            Comment(case_id=case_id, author_id=user_id, body=PLAIN_COMMENT),
        ]
    )
    session.commit()

    erased = client.post("/api/v1/me/data/erase", json={"confirm": "DELETE"}, headers=bot)
    assert erased.status_code == 200, erased.get_data(as_text=True)
    assert erased.get_json()["comments"] == 2
    session.expire_all()
    bodies = session.scalars(select(Comment.body).order_by(Comment.id)).all()
    assert len(bodies) == 2 and not any(_has_canary(b) for b in bodies)
    assert bodies[1] == PLAIN_COMMENT
    schema = openapi_document()["components"]["schemas"]["ErasureResult"]
    assert "comments" in schema["required"]
