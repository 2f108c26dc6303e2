"""The real portal on a loopback port, the real HTTP gateway, the real Application fed with
updates: a report ends as a case in the database, and status changes reach the chat."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from werkzeug.serving import make_server

from bot.app import build_application
from bot.gateway import CaseNotFound, HttpPortalGateway, InvalidRequest, PortalUnavailable, Resident
from bot.notifications import poll_notifications
from bot.submission import deliver_pending
from tests.bot.conftest import Resident as ChatResident
from tests.bot.conftest import bot_settings, texts
from tests.bot.fakes import FakeTelegram

#: Routed by the demo rules to the housing bureau when the resident picks G01-09.
HOUSING_TEXT = (
    "我们小区物业三个月没有清理楼道垃圾，电梯也经常坏，物业公司一直不处理，请相关部门督促。"
)


class Flaky:
    """WSGI middleware: the portal answers 503 while ``failing`` is set (a deploy, an outage)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.failing = False

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.failing:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"down for maintenance"]
        return self.app(environ, start_response)


@pytest.fixture
def served(app, jurisdiction) -> Iterator[tuple[str, Flaky]]:  # type: ignore[no-untyped-def]
    """The portal app served on 127.0.0.1:<free port> in a thread."""
    flaky = Flaky(app)
    server = make_server("127.0.0.1", 0, flaky, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    try:
        yield f"http://127.0.0.1:{server.server_port}", flaky
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def bot_key(session) -> str:  # type: ignore[no-untyped-def]
    from portal.api.services import create_api_key

    created = create_api_key(session, name="telegram bot", scopes=["channel:telegram"])
    session.commit()
    return created.secret


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, format="JPEG")
    return buffer.getvalue()


async def no_wait(seconds: float) -> None:
    return None


async def test_a_report_becomes_a_case_and_its_progress_reaches_the_chat(
    served,
    bot_key,
    session,
    make_user,  # type: ignore[no-untyped-def]
) -> None:
    from portal.accounts.models import ChannelIdentity
    from portal.cases.models import Case, CaseContact, Notification
    from portal.privacy.crypto import identity_lookup_hash
    from portal.workbench import services as workbench
    from tests.factories import POINTS

    url, _flaky = served
    telegram = FakeTelegram()
    gateway = HttpPortalGateway(url, bot_key, sleep=no_wait)
    bot = build_application(
        bot_settings(portal_url=url), gateway, request=telegram, get_updates_request=telegram
    )
    async with bot:
        resident = ChatResident(bot, telegram, user_id=31337)
        await resident.say("/start")
        await resident.say("Report a problem")
        await resident.say(HOUSING_TEXT)
        preview = await resident.press(resident.button("Done"))
        assert "This is what I understood" in texts(preview)
        groups = await resident.press(resident.button("Choose another category"))
        group_button = next(data for label, data in groups[-1].buttons if data.endswith(":g:G01"))
        categories = await resident.press(group_button)
        category_button = next(
            data for label, data in categories[-1].buttons if data.endswith(":c:G01-09")
        )
        await resident.press(category_button)
        await resident.location(*POINTS["LJ-JB"])
        telegram.files["photos/p1.jpg"] = jpeg()
        sizes = [
            {"file_id": "p1", "file_unique_id": "p1u", "width": 64, "height": 48, "file_size": 900}
        ]
        await resident.send(photo=sizes)
        await resident.say("Next")
        await resident.share_contact("13800138000")
        send = resident.button("Send it")
        done = await resident.press(send)
        again = await resident.press(send)  # a double tap
        reply = texts(done)
        assert "registered as" in reply, reply
        number = reply.split("registered as ", 1)[1].split(".", 1)[0]
        assert "Already sent" in texts(again)

        session.expire_all()
        cases = session.scalars(select(Case)).all()
        assert [c.tracking_number for c in cases] == [number]
        case = cases[0]
        assert case.channel == "telegram"
        assert case.category.code == "G01-09" and case.lead_department.code == "housing"
        assert case.status == "assigned"
        assert len(case.attachments) == 1
        identity = session.scalar(
            select(ChannelIdentity).where(
                ChannelIdentity.external_id_hash == identity_lookup_hash("telegram", "31337")
            )
        )
        assert identity is not None and case.submitter_id == identity.user_id
        contact = session.scalar(select(CaseContact).where(CaseContact.case_id == case.id))
        assert contact is not None and "13800138000" in str(vars(contact))
        assert f"{url}/cases/{number}" in reply

        # the department accepts: the poller tells the resident, then acknowledges
        staff = make_user(role="staff", department="housing")
        workbench.accept_case(session, case=case, actor=staff)
        session.commit()
        before = len(telegram.calls)
        assert await poll_notifications(bot) >= 1
        told = telegram.calls[before:]
        assert told[0].params["chat_id"] == 31337
        assert f"Update on your case {number}: Being handled" in told[0].text
        assert "Accepted by the department" in told[0].text
        session.expire_all()
        pending = session.scalars(select(Notification).where(Notification.acked_at.is_(None))).all()
        assert pending == []
        assert await poll_notifications(bot) == 0

        status = await resident.say(f"/status {number}")
        assert "Status: Being handled" in texts(status)
        mine = await resident.say("My cases")
        assert number in texts(mine)

        # resolved: the resident is asked for a verdict and gives it with buttons
        workbench.resolve_case(
            session, case=case, actor=staff, summary="物业已清理楼道，电梯已修好。"
        )
        session.commit()
        before = len(telegram.calls)
        await poll_notifications(bot)
        told = texts(telegram.calls[before:])
        assert "has been marked as resolved" in told and "物业已清理楼道" in told
        asked = await resident.press(f"v:{number}:y")
        stars = [data for _, data in asked[-1].buttons]
        thanked = await resident.press(stars[4])
        assert "Thank you for your rating!" in texts(thanked)
        session.expire_all()
        assert session.get(Case, case.id).status == "closed"


async def test_the_gateway_against_the_real_portal(served, bot_key, session) -> None:  # type: ignore[no-untyped-def]
    """Errors map to typed exceptions; 5xx is retried; an idempotency key never makes two cases."""
    from tests.factories import OUTSIDE_POINT

    url, flaky = served
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        flaky.failing = False  # the outage ends while we back off

    gateway = HttpPortalGateway(url, bot_key, sleep=sleep)
    resident = Resident(4711, "王小明", "zh_Hans_CN")
    try:
        with pytest.raises(CaseNotFound):
            await gateway.get_case(resident, "LJ-2611-9999-1")
        from bot.gateway import CaseSubmission

        outside = CaseSubmission(text=HOUSING_TEXT, lat=OUTSIDE_POINT[0], lon=OUTSIDE_POINT[1])
        with pytest.raises(InvalidRequest) as refused:
            await gateway.submit_case(resident, outside, idempotency_key="k-outside")
        assert refused.value.field == "location" and refused.value.status == 422

        flaky.failing = True
        groups = await gateway.catalogue(locale="zh_Hans_CN")
        assert slept == [0.5] and any(g["code"] == "G01" for g in groups)

        submission = CaseSubmission(text=HOUSING_TEXT, category_code="G01-09")
        first = await gateway.submit_case(resident, submission, idempotency_key="k-1")
        second = await gateway.submit_case(resident, submission, idempotency_key="k-1")
        assert first["tracking_number"] == second["tracking_number"]
        page = await gateway.my_cases(resident)
        assert [c["tracking_number"] for c in page.items] == [first["tracking_number"]]
        from portal.accounts.models import ChannelIdentity
        from portal.privacy.crypto import identity_lookup_hash

        identity = session.scalar(
            select(ChannelIdentity).where(
                ChannelIdentity.external_id_hash == identity_lookup_hash("telegram", "4711")
            )
        )
        assert identity.channel == "telegram" and identity.user.display_name == "王小明"

        flaky.failing = True
        gateway_no_recovery = HttpPortalGateway(url, bot_key, sleep=no_wait)
        with pytest.raises(PortalUnavailable) as down:
            await gateway_no_recovery.get_case(resident, first["tracking_number"])
        assert down.value.status == 503
        await gateway_no_recovery.aclose()
        flaky.failing = False

        closed = HttpPortalGateway("http://127.0.0.1:9", bot_key, sleep=no_wait)  # nothing listens
        with pytest.raises(PortalUnavailable):
            await closed.catalogue(locale="en")
        await closed.aclose()
    finally:
        await gateway.aclose()


async def test_a_draft_saved_during_an_outage_is_submitted_once_the_portal_is_back(
    served,
    bot_key,
    session,  # type: ignore[no-untyped-def]
) -> None:
    from portal.cases.models import Case

    url, flaky = served
    telegram = FakeTelegram()
    bot = build_application(
        bot_settings(portal_url=url),
        HttpPortalGateway(url, bot_key, sleep=no_wait),
        request=telegram,
        get_updates_request=telegram,
    )
    async with bot:
        resident = ChatResident(bot, telegram, user_id=4242)
        await resident.say("Report a problem")
        await resident.say(HOUSING_TEXT)
        await resident.press(resident.button("Done"))
        await resident.press(resident.button("continue"))
        await resident.say("Skip")
        await resident.say("Next")
        await resident.say("No phone number")
        flaky.failing = True
        outage = await resident.press(resident.button("Send it"))
        assert "Your report is saved" in texts(outage)
        bot.clock = lambda: 10**12
        assert await deliver_pending(bot) == 0  # still down
        flaky.failing = False
        bot.clock = lambda: 10**13
        before = len(telegram.calls)
        assert await deliver_pending(bot) == 1
        assert "registered as" in texts(telegram.calls[before:])
    session.expire_all()
    assert len(session.scalars(select(Case)).all()) == 1


PROPOSAL_TEXT = "建议在东门增设一个公交站点，方便老人和学生出行，现在最近的站要走二十分钟。"


async def test_proposals_nearby_support_and_comment_through_the_real_portal(
    served,
    bot_key,
    session,
    make_user,  # type: ignore[no-untyped-def]
) -> None:
    from portal.deliberation.models import Comment, Support
    from portal.deliberation.participation import issue_verification_codes
    from portal.deliberation.services import create_proposal
    from tests.factories import POINTS

    url, _flaky = served
    lat, lon = POINTS["LJ-WS"]
    author = make_user(verification_level=2)
    proposal = create_proposal(
        session,
        author=author,
        title="东门增设公交站",
        body=PROPOSAL_TEXT,
        category_code="G03-03",
        lat=lat,
        lon=lon,
    )
    session.commit()
    telegram = FakeTelegram()
    bot = build_application(
        bot_settings(portal_url=url),
        HttpPortalGateway(url, bot_key, sleep=no_wait),
        request=telegram,
        get_updates_request=telegram,
    )
    async with bot:
        resident = ChatResident(bot, telegram, user_id=5150)
        await resident.say("Proposals nearby")
        listed = await resident.location(lat + 0.001, lon)
        page = texts(listed)
        assert "Proposals near you:" in page and "1. 东门增设公交站" in page
        assert f"{url}/proposals/{proposal.id}" in page
        refused = await resident.press(f"p:s:{proposal.id}")
        assert "/verify" in texts(refused)
        [issued] = issue_verification_codes(session, count=1, issued_by="青松社区")
        session.commit()
        verified = await resident.say(f"/verify {issued.code}")
        assert "your account is now" in texts(verified)
        supported = await resident.press(f"p:s:{proposal.id}")
        assert "Thank you for supporting “东门增设公交站”: 1 of" in texts(supported)
        await resident.press(f"p:c:{proposal.id}")
        await resident.press(f"p:st:{proposal.id}:for")
        done = await resident.say("非常需要，孩子上学要走很远。")
        assert "Thank you" in texts(done)
    session.expire_all()
    supports = session.scalars(select(Support).where(Support.proposal_id == proposal.id)).all()
    assert len(supports) == 1 and supports[0].channel == "telegram"
    (comment,) = session.scalars(select(Comment)).all()
    assert comment.stance == "for" and comment.body == "非常需要，孩子上学要走很远。"


async def test_own_contact_confirms_the_phone_through_the_real_portal(
    served,
    bot_key,
    session,  # type: ignore[no-untyped-def]
) -> None:
    """/verify → the contact button → the resident's own card: level 1 in the database, the
    number encrypted; someone else's card changes nothing; a repeat is idempotent."""
    from portal.accounts.models import ChannelIdentity
    from portal.deliberation.models import ConfirmedPhone
    from portal.privacy.crypto import identity_lookup_hash

    url, _flaky = served
    telegram = FakeTelegram()
    bot = build_application(
        bot_settings(portal_url=url),
        HttpPortalGateway(url, bot_key, sleep=no_wait),
        request=telegram,
        get_updates_request=telegram,
    )
    async with bot:
        resident = ChatResident(bot, telegram, user_id=6160)
        offer = await resident.say("/verify")
        assert offer[-1].keyboard["keyboard"][0][0]["request_contact"] is True
        other = await resident.share_contact("13900000000", user_id=1)
        assert "someone else's contact card" in texts(other)
        confirmed = await resident.share_contact("+86 138 0013 8000")
        assert "your account is now “phone confirmed”" in texts(confirmed)
        again = await resident.share_contact("+86 138 0013 8000")
        assert "already confirmed" in texts(again)
    session.expire_all()
    identity = session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.external_id_hash == identity_lookup_hash("telegram", "6160")
        )
    )
    assert identity is not None and identity.user.verification_level == 1
    (phone,) = session.scalars(select(ConfirmedPhone)).all()
    assert phone.user_id == identity.user_id and phone.phone == "+86 138 0013 8000"
