"""Proposals in the bot: read one (text, for/against overview, official answer) and follow it —
offline, with the fake portal."""

from __future__ import annotations

from sqlalchemy import select

from tests.bot.conftest import Resident, texts
from tests.bot.fakes import FakePortal


async def test_read_a_proposal_with_its_overview_and_answer(
    resident: Resident, portal: FakePortal
) -> None:
    proposal = portal.add_proposal("青松社区东门增设公交站", distance_m=None, threshold=2)
    proposal["body"] = "老人和学生要走二十分钟到最近的站点。"
    proposal["terms"] = {"for": ["老人", "上学"], "against": ["拥堵"]}
    proposal["answer"] = {
        "outcome": "partly_accepted",
        "outcome_label": "Partly accepted",
        "text": "同意增设临时停靠站。",
        "reasons": "路宽不足以设港湾式车站。",
    }
    portal.comments += [(proposal["id"], 1, "for", "支持"), (proposal["id"], 2, "against", "反对")]
    await resident.say("/proposals")
    listed = await resident.say("All proposals")
    assert [label for label, _ in listed[-1].buttons] == ["Support 1", "Comment on 1", "Read 1"]
    card = await resident.press(resident.button("Read 1"))
    text = texts(card)
    assert "青松社区东门增设公交站" in text and "老人和学生要走二十分钟" in text
    assert "Discussion: 1 for · 0 neutral · 1 against" in text
    assert "For: 老人、上学" in text and "Against: 拥堵" in text
    assert "Official answer: Partly accepted" in text and "Reasons: 路宽不足" in text
    assert "http://portal.test/proposals/1" in text
    assert [label for label, _ in card[-1].buttons] == ["Support", "Comment", "Follow"]


async def test_follow_a_proposal(resident: Resident, portal: FakePortal) -> None:
    proposal = portal.add_proposal("在小区门口装减速带", distance_m=None)
    followed = await resident.press(f"p:f:{proposal['id']}")
    assert "You follow “在小区门口装减速带”" in texts(followed)
    assert portal.proposal_followers == {(proposal["id"], resident.id)}
    card = await resident.press(f"p:d:{proposal['id']}")
    assert [label for label, _ in card[-1].buttons] == ["Support", "Comment"]  # already following
    stale = await resident.press("p:d:notanumber")
    assert "no longer active" in texts(stale)
    missing = await resident.press("p:f:99")
    assert "No such proposal." in texts(missing)


async def test_read_and_follow_through_the_real_portal(
    app, session, jurisdiction, make_user
) -> None:  # type: ignore[no-untyped-def]
    """The HTTP gateway against the portal on a loopback port: the card's data and the follow."""
    import threading

    from werkzeug.serving import make_server

    from bot.gateway import HttpPortalGateway, Resident
    from portal.api.services import create_api_key
    from portal.deliberation.models import ProposalFollower
    from portal.deliberation.services import create_proposal
    from portal.deliberation.threads import post_comment

    author = make_user(verification_level=2)
    proposal = create_proposal(
        session,
        author=author,
        title="东门增设公交站",
        body="建议在东门增设一个公交站点，方便老人和学生出行。",
        category_code="G03-03",
    )
    post_comment(
        session, author=make_user(), body="非常需要，老人看病方便", stance="for", proposal=proposal
    )
    key = create_api_key(session, name="telegram bot", scopes=["channel:telegram"]).secret
    session.commit()

    async def no_wait(seconds: float) -> None:
        return None

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        gateway = HttpPortalGateway(f"http://127.0.0.1:{server.server_port}", key, sleep=no_wait)
        resident = Resident(telegram_id=6060, name="居民")
        card = await gateway.get_proposal(resident, proposal.id)
        assert card["title"] == "东门增设公交站" and card["overview"]["counts"]["for"] == 1
        assert card["following"] is False
        followed = await gateway.follow_proposal(resident, proposal.id)
        assert followed["following"] is True
    finally:
        server.shutdown()
        thread.join(timeout=10)
    session.expire_all()
    assert len(session.scalars(select(ProposalFollower)).all()) == 2  # the author and 6060
