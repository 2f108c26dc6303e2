"""Deliberation pages end to end through the test client: proposals, supports, threads, likes,
edit window, reports and the moderators' queue (audited), case threads, verification, CSRF."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.deliberation.models import Comment, Proposal
from portal.deliberation.participation import issue_verification_codes
from tests.deliberation.conftest import PROPOSAL_TEXT
from tests.factories import load_demo_jurisdiction


def login(client: Any, user: Any) -> None:
    """Sign ``user`` in. The test's app context is shared by the client's requests, so the user
    Flask-Login cached in ``g`` is dropped too."""
    from flask import g

    with client.session_transaction() as flask_session:
        flask_session["_user_id"] = str(user.id)
        flask_session["_fresh"] = True
    g.pop("_login_user", None)


def _page(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_create_support_comment_and_overview(client, session, settings, resident):  # type: ignore[no-untyped-def]
    settings(proposal_support_threshold=5)
    author = resident(display_name="提议人")
    login(client, author)
    assert "G03-03" in _page(client, "/proposals/new")
    response = client.post(
        "/proposals/new",
        data={
            "title": "东门增设公交站",
            "body": PROPOSAL_TEXT,
            "category_code": "G03-03",
            "area_code": "LJ-WS-01",
        },
    )
    assert response.status_code == 302
    proposal = session.scalars(select(Proposal)).one()
    # A too-short body comes back with the message on the field.
    bad = client.post(
        "/proposals/new", data={"title": "东门增设公交站", "body": "短", "category_code": "G03-03"}
    )
    assert bad.status_code == 200 and "too short" in bad.get_data(as_text=True)

    supporter = resident()
    login(client, supporter)
    client.post(f"/proposals/{proposal.id}/support")
    client.post(f"/proposals/{proposal.id}/support")  # twice: still one
    client.post(
        f"/proposals/{proposal.id}/comments",
        data={"body": "支持，公交站能方便老人出行", "stance": "for"},
    )
    against = resident()
    login(client, against)
    client.post(
        f"/proposals/{proposal.id}/comments",
        data={"body": "反对，东门路太窄会造成拥堵", "stance": "against"},
    )
    session.expire_all()
    assert session.get(Proposal, proposal.id).support_count == 1
    html = _page(client, f"/proposals/{proposal.id}")
    assert "1 of 5 supports" in html
    assert re.search(r'class="count-for">1<', html) and re.search(r'class="count-against">1<', html)
    assert "拥堵" in html and "老人" in html  # characteristic terms of each side
    # Sort by most liked: like the "against" comment and it comes first.
    first, second = session.scalars(select(Comment).order_by(Comment.id)).all()
    client.post(f"/comments/{second.id}/like")
    client.post(f"/comments/{second.id}/like")
    session.expire_all()
    assert session.get(Comment, second.id).like_count == 1
    liked = _page(client, f"/proposals/{proposal.id}?sort=liked")
    assert liked.index(f'id="c{second.id}"') < liked.index(f'id="c{first.id}"')
    client.post(f"/comments/{second.id}/like", data={"action": "unlike"})
    session.expire_all()
    assert session.get(Comment, second.id).like_count == 0


def test_replies_nest_to_depth_three(client, session, jurisdiction, resident, make_proposal):  # type: ignore[no-untyped-def]
    proposal = make_proposal()
    login(client, resident())
    parent = None
    for depth in range(1, 5):
        data = {"body": f"第{depth}层回复内容", "stance": "neutral"}
        if parent is not None:
            data["parent_id"] = str(parent)
        client.post(f"/proposals/{proposal.id}/comments", data=data)
        newest = session.scalars(select(Comment).order_by(Comment.id.desc())).first()
        parent = newest.id if newest is not None else None
    depths = list(session.scalars(select(Comment.depth).order_by(Comment.id)))
    assert depths == [1, 2, 3]  # the fourth level was refused
    html = _page(client, f"/proposals/{proposal.id}")
    assert "at most 3 levels" in html


def test_edit_window_soft_delete_and_length_limit(
    client, session, settings, resident, make_proposal
):  # type: ignore[no-untyped-def]
    settings(comment_edit_window_minutes=15)
    proposal = make_proposal()
    me = resident()
    login(client, me)
    client.post(f"/proposals/{proposal.id}/comments", data={"body": "x" * 2001, "stance": "for"})
    assert session.scalars(select(Comment)).first() is None
    assert "at most 2000 characters" in _page(client, f"/proposals/{proposal.id}")
    client.post(f"/proposals/{proposal.id}/comments", data={"body": "最初的意见", "stance": "for"})
    comment = session.scalars(select(Comment)).one()
    client.post(f"/comments/{comment.id}/edit", data={"body": "修改后的意见", "stance": "neutral"})
    html = _page(client, f"/proposals/{proposal.id}")
    assert "修改后的意见" in html and "edited" in html
    comment.created_at = comment.created_at - timedelta(minutes=16)
    session.commit()
    client.post(f"/comments/{comment.id}/edit", data={"body": "窗口过后的修改"})
    html = _page(client, f"/proposals/{proposal.id}")
    assert "窗口过后的修改" not in html and "15 minutes" in html
    other = resident()
    login(client, other)
    denied = client.post(f"/comments/{comment.id}/edit", data={"body": "冒名修改"})
    assert denied.status_code == 404, denied.headers.get("Location")
    login(client, me)
    client.post(f"/comments/{comment.id}/delete")
    html = _page(client, f"/proposals/{proposal.id}")
    assert "修改后的意见" not in html and "Comment deleted by its author." in html
    assert session.get(Comment, comment.id) is not None  # soft delete keeps the row


def test_reports_hold_then_moderator_hides_restores_blocks_audited(
    client, session, settings, resident, make_proposal, make_user
):  # type: ignore[no-untyped-def]
    settings(moderation_report_threshold=3, prohibited_words=["傻瓜"])
    proposal = make_proposal()
    troll = resident(display_name="Troll")
    login(client, troll)
    client.post(
        f"/proposals/{proposal.id}/comments", data={"body": "这个提议毫无意义", "stance": "against"}
    )
    client.post(
        f"/proposals/{proposal.id}/comments",
        data={"body": "提议人是个ＳＢ傻瓜", "stance": "against"},
    )
    rude, worded = session.scalars(select(Comment).order_by(Comment.id)).all()
    assert worded.moderation == "held"  # a prohibited word holds it at once
    reporters = [resident() for _ in range(3)]
    for n, reporter in enumerate(reporters):
        login(client, reporter)
        client.post(f"/report/comment/{rude.id}", data={"reason": "人身攻击"})
        client.post(f"/report/comment/{rude.id}", data={"reason": "再次举报"})  # once per person
        session.expire_all()
        assert session.get(Comment, rude.id).moderation == ("held" if n == 2 else "visible")
    assert session.get(Comment, rude.id).report_count == 3
    html = _page(client, f"/proposals/{proposal.id}")
    assert "这个提议毫无意义" not in html and "Waiting for a moderator" in html
    # Residents cannot open the queue; moderators can.
    assert client.get("/moderation/").status_code == 404
    moderator = make_user(role="moderator")
    login(client, moderator)
    queue = _page(client, "/moderation/")
    assert "这个提议毫无意义" in queue and "人身攻击" in queue
    client.post(
        "/moderation/decide",
        data={
            "target_type": "comment",
            "target_id": rude.id,
            "decision": "hide",
            "reason": "人身攻击",
        },
    )
    client.post(
        "/moderation/decide",
        data={
            "target_type": "comment",
            "target_id": worded.id,
            "decision": "block",
            "reason": "辱骂",
            "days": "7",
        },
    )
    login(client, resident())
    html = _page(client, f"/proposals/{proposal.id}")
    assert "Hidden by moderator." in html and "这个提议毫无意义" not in html
    login(client, troll)
    client.post(
        f"/proposals/{proposal.id}/comments", data={"body": "我又来了", "stance": "against"}
    )
    assert session.scalars(select(Comment).where(Comment.body == "我又来了")).first() is None
    assert "paused your participation" in _page(client, f"/proposals/{proposal.id}")
    login(client, moderator)
    client.post(
        "/moderation/decide",
        data={
            "target_type": "comment",
            "target_id": rude.id,
            "decision": "restore",
            "reason": "复核后恢复",
        },
    )
    session.expire_all()
    assert session.get(Comment, rude.id).moderation == "visible"
    actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == [
        "moderation.hide",
        "moderation.hide",
        "moderation.block",
        "moderation.restore",
    ]
    reasons = set(session.scalars(select(AuditEntry.reason)))
    assert {"人身攻击", "辱骂", "复核后恢复"} <= reasons


def test_case_page_has_a_thread_and_turns_into_proposal(client, session, make_case, resident):  # type: ignore[no-untyped-def]
    me = resident()
    case = make_case(
        text="小区门口没有公交站，老人出门很不方便，希望增设一个站点。",
        submitter=me,
        area_code="LJ-WS-01",
    )
    neighbour = resident()
    login(client, neighbour)
    client.post(
        f"/cases/{case.tracking_number}/comments",
        data={"body": "同感，see https://example.org/map 这里", "stance": "for"},
    )
    html = _page(client, f"/cases/{case.tracking_number}")
    assert '<a href="https://example.org/map" rel="nofollow noopener noreferrer">' in html
    assert "Turn into a proposal" not in html  # only for the submitter
    login(client, me)
    assert "Turn into a proposal" in _page(client, f"/cases/{case.tracking_number}")
    response = client.post(f"/proposals/from-case/{case.tracking_number}")
    proposal = session.scalars(select(Proposal)).one()
    assert response.headers["Location"].endswith(f"/proposals/{proposal.id}")
    assert proposal.source_case_id == case.id


def test_verification_page_raises_the_level(client, session, settings, resident):  # type: ignore[no-untyped-def]
    settings(level_to_create_proposal=2)
    me = resident(level=0)
    login(client, me)
    assert "verified resident" in _page(client, "/proposals/new")
    [issued] = issue_verification_codes(session, count=1, issued_by="青松社区")
    session.commit()
    client.post("/account/verification", data={"code": "WRONGCODE1"})
    session.refresh(me)
    assert me.verification_level == 0
    client.post("/account/verification", data={"code": issued.code})
    session.refresh(me)
    assert me.verification_level == 2


def test_nav_shows_proposals_to_all_and_moderation_to_moderators(client, jurisdiction, make_user):  # type: ignore[no-untyped-def]
    html = _page(client, "/proposals/")
    assert 'href="/proposals/"' in html and "/moderation/" not in html
    login(client, make_user(role="moderator"))
    assert 'href="/moderation/"' in _page(client, "/proposals/")


WRITE_ROUTES = [
    "/proposals/new",
    "/proposals/{p}/support",
    "/proposals/{p}/unsupport",
    "/proposals/{p}/follow",
    "/proposals/{p}/withdraw",
    "/proposals/{p}/answer",
    "/proposals/{p}/implementation",
    "/proposals/{p}/progress",
    "/proposals/{p}/comments",
    "/proposals/from-case/{tn}",
    "/cases/{tn}/comments",
    "/comments/{c}/edit",
    "/comments/{c}/delete",
    "/comments/{c}/like",
    "/report/comment/{c}",
    "/report/proposal/{p}",
    "/moderation/decide",
    "/account/verification",
]


def test_csrf_required_on_every_write(make_app: Any) -> None:
    """With CSRF on, each write route refuses a POST without a token (400) and changes nothing."""
    from portal import get_session
    from portal.deliberation.services import create_proposal
    from portal.deliberation.threads import post_comment
    from tests.factories import create_case, create_user

    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        session = get_session()
        load_demo_jurisdiction(session)
        user = create_user(session, role="moderator", verification_level=2)
        case = create_case(session, text="小区门口没有公交站，老人出门很不方便。", submitter=user)
        proposal = create_proposal(
            session, author=user, title="增设公交站点", body=PROPOSAL_TEXT, category_code="G03-03"
        )
        comment = post_comment(session, author=user, body="第一条评论", proposal=proposal)
        session.commit()
        ids = {"p": proposal.id, "c": comment.id, "tn": case.tracking_number}
        user_id = user.id
    client = app.test_client()
    with client.session_transaction() as flask_session:
        flask_session["_user_id"] = str(user_id)
        flask_session["_fresh"] = True
    assert "/moderation/" in client.get("/proposals/").get_data(as_text=True)
    for route in WRITE_ROUTES:
        response = client.post(
            route.format(**ids),
            data={
                "body": "无令牌",
                "reason": "无令牌",
                "target_type": "comment",
                "target_id": ids["c"],
                "decision": "hide",
            },
        )
        assert response.status_code == 400, route
    with app.app_context():
        session = get_session()
        assert session.scalars(select(Comment)).one().body == "第一条评论"
        assert session.get(Proposal, ids["p"]).support_count == 0
    # The same post with the page's token goes through.
    page = client.get(f"/proposals/{ids['p']}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    ok = client.post(f"/proposals/{ids['p']}/support", data={"csrf_token": token.group(1)})
    assert ok.status_code == 302
    with app.app_context():
        assert get_session().get(Proposal, ids["p"]).support_count == 1


@pytest.mark.parametrize(
    "body",
    [
        "<script>alert(1)</script>",
        "＜script＞alert(1)＜/script＞",
        '<img src=x onerror="alert(1)">',
        "javascript:alert(1)",
        '<a href="javascript:alert(1)">点我</a>',
        'https://example.org/"onmouseover="alert(1)',
    ],
)
def test_render_body_never_emits_markup_from_content(body: str) -> None:
    """Only <a href="http(s)…"> and <br> ever come out, and no event attributes."""
    from html.parser import HTMLParser

    from portal.deliberation.threads import render_body

    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    Collect().feed(str(render_body(body)))
    for tag, attrs in found:
        assert tag in {"a", "br"}
        for name, value in attrs:
            assert not name.startswith("on")
            if name == "href":
                assert (value or "").startswith(("http://", "https://"))


def test_workbench_case_links_to_the_proposal_answer(
    client, session, settings, make_proposal, resident, make_user
):  # type: ignore[no-untyped-def]
    from portal.deliberation.services import support_proposal

    settings(proposal_support_threshold=1)
    proposal = make_proposal()
    support_proposal(session, proposal=proposal, user=resident())
    session.commit()
    clerk = make_user(role="staff", department="transport")
    login(client, clerk)
    html = _page(client, f"/workbench/cases/{proposal.case.tracking_number}")
    assert f'href="/proposals/{proposal.id}#department"' in html
    detail = _page(client, f"/proposals/{proposal.id}")
    assert 'name="outcome"' in detail  # the answer form, for this department only
    login(client, make_user(role="staff", department="housing"))
    assert 'name="outcome"' not in _page(client, f"/proposals/{proposal.id}")


def test_linkify_links_only_http_urls_and_stops_at_quotes() -> None:
    from portal.deliberation.threads import render_body

    html = str(
        render_body(
            '见 https://example.org/map"onmouseover="x 与 https://a.cn/?a=1&b=2。ftp://x.org\n下一行'
        )
    )
    assert '<a href="https://example.org/map" rel="nofollow noopener noreferrer">' in html
    assert '<a href="https://a.cn/?a=1&amp;b=2" rel="nofollow noopener noreferrer">' in html
    assert "ftp://x.org" in html and 'href="ftp' not in html and "<br>" in html
