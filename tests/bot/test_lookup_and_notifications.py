"""Status look-ups, "my cases", the notifications poller and verdicts, offline."""

from __future__ import annotations

from bot.notifications import poll_notifications
from tests.bot.conftest import Resident, texts
from tests.bot.fakes import FakePortal, FakeTelegram


def a_case(portal: FakePortal, resident: Resident, **view) -> dict:  # type: ignore[no-untyped-def]
    defaults = {
        "status": "accepted",
        "department": {"code": "urban", "name": "区城管局", "name_en": "Urban Management Bureau"},
        "due_at": "2026-12-03T20:00:00+00:00",
        "latest_reply": "已安排维修人员明天上午到场。",
    }
    defaults.update(view)
    return portal.add_case(submitter=resident.id, **defaults)


async def test_status_command_shows_status_department_due_date_and_reply(
    resident: Resident, portal: FakePortal
) -> None:
    case = a_case(portal, resident)
    said = await resident.say(f"/status {case['tracking_number'].lower()}")
    card = texts(said)
    assert f"Case {case['tracking_number']}" in card
    assert "Status: Being handled" in card
    assert "Department: Urban Management Bureau" in card
    assert "Due by 2026-12-04" in card  # 20:00 UTC is the next day in China
    assert "Latest reply: 已安排维修人员明天上午到场。" in card
    assert case["url"] in card


async def test_check_a_case_button_asks_for_the_number(
    resident: Resident, portal: FakePortal
) -> None:
    case = a_case(portal, resident, status="resolved", latest_reply=None, overdue=False)
    asked = await resident.say("Check a case")
    assert "Send me the tracking number" in texts(asked)
    found = await resident.say(case["tracking_number"])
    assert "Resolved, waiting for the resident's rating" in texts(found)
    assert "Due by" not in texts(found)
    assert "Anything else?" in texts(found)


async def test_a_bare_tracking_number_is_looked_up(resident: Resident, portal: FakePortal) -> None:
    case = a_case(portal, resident, overdue=True)
    said = await resident.say(case["tracking_number"])
    assert "(overdue)" in texts(said)
    assert portal.submissions == []


async def test_my_cases_is_paginated(resident: Resident, portal: FakePortal) -> None:
    empty = await resident.say("My cases")
    assert "You have no cases yet" in texts(empty)
    numbers = [a_case(portal, resident)["tracking_number"] for _ in range(7)]
    first = await resident.say("My cases")
    assert "Your cases (1–5 of 7)" in texts(first)
    assert numbers[-1] in texts(first) and numbers[0] not in texts(first)
    second = await resident.press(resident.button("More"))
    assert "Your cases (6–7 of 7)" in texts(second)
    assert numbers[0] in texts(second)
    assert not second[-1].buttons  # no further page
    from_command = await resident.say("/mycases")
    assert "Your cases (1–5 of 7)" in texts(from_command)


async def test_notifications_reach_the_chat_once_and_are_acknowledged(
    resident: Resident, portal: FakePortal, telegram: FakeTelegram
) -> None:
    await resident.say("/start")  # the resident's language is known from now on
    case = a_case(portal, resident)
    number = case["tracking_number"]
    first = portal.notify(resident.id, "status_changed", number, status="accepted")
    second = portal.notify(resident.id, "reply", number, status="accepted", note="明天上午修。")
    before = len(telegram.calls)
    assert await poll_notifications(resident.app) == 2
    sent = telegram.calls[before:]
    assert [c.params["chat_id"] for c in sent] == [resident.id, resident.id]
    assert f"Update on your case {number}: Being handled" in sent[0].text
    assert "The department replied" in sent[1].text and "明天上午修。" in sent[1].text
    assert portal.acked == {first, second}
    before = len(telegram.calls)
    assert await poll_notifications(resident.app) == 0
    assert telegram.calls[before:] == []


async def test_a_lost_ack_never_shows_a_notification_twice(
    resident: Resident, portal: FakePortal, telegram: FakeTelegram
) -> None:
    case = a_case(portal, resident)
    note_id = portal.notify(
        resident.id, "status_changed", case["tracking_number"], status="assigned"
    )
    portal.ack_failures = 1
    assert await poll_notifications(resident.app) == 1
    assert portal.acked == set()
    # the portal still offers it (unacknowledged); the bot must not send it again
    resident.app.bot_data["notification_cursor"] = "0"  # e.g. the cursor was lost in a restart
    before = len(telegram.calls)
    assert await poll_notifications(resident.app) == 0
    assert telegram.calls[before:] == []
    assert portal.acked == {note_id}


async def test_a_telegram_failure_keeps_the_notification_for_the_next_round(
    resident: Resident, portal: FakePortal, telegram: FakeTelegram
) -> None:
    case = a_case(portal, resident)
    portal.notify(resident.id, "status_changed", case["tracking_number"], status="assigned")
    telegram.fail["sendMessage"].append(
        {"ok": False, "error_code": 502, "description": "Bad Gateway"}
    )
    assert await poll_notifications(resident.app) == 0
    assert portal.acked == set()
    assert await poll_notifications(resident.app) == 1
    assert len(portal.acked) == 1


async def test_a_resident_who_blocked_the_bot_does_not_stop_the_feed(
    resident: Resident, portal: FakePortal, telegram: FakeTelegram
) -> None:
    case = a_case(portal, resident)
    blocked = portal.notify(1234, "status_changed", case["tracking_number"], status="assigned")
    fine = portal.notify(resident.id, "status_changed", case["tracking_number"], status="accepted")
    telegram.fail["sendMessage"].append(
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    )
    assert await poll_notifications(resident.app) == 2  # tried both; the blocked one is dropped
    assert portal.acked == {blocked, fine}


async def test_verdict_request_asks_resolved_then_satisfaction_and_posts_it(
    resident: Resident, portal: FakePortal, telegram: FakeTelegram
) -> None:
    await resident.say("/start")  # the resident's language (en) is known from now on
    case = a_case(portal, resident, status="resolved")
    number = case["tracking_number"]
    portal.notify(resident.id, "verdict_request", number, note="路灯已更换。")
    await poll_notifications(resident.app)
    request = telegram.sent()[-1]
    assert f"Your case {number} has been marked as resolved." in request.text
    assert "路灯已更换。" in request.text
    assert [label for label, _ in request.buttons] == ["Yes, it is solved", "No, not solved"]
    asked = await resident.press(resident.button("Yes, it is solved"))
    assert "How satisfied are you" in texts(asked)
    stars = [data for _, data in asked[-1].buttons]
    assert stars == [f"v:{number}:y:{n}" for n in range(1, 6)]
    rated = await resident.press(stars[3])
    assert portal.verdicts == [(number, True, 4)]
    assert "Thank you for your rating!" in texts(rated)
    again = await resident.press(stars[4])
    assert "You have already rated case" in texts(again)
    assert len(portal.verdicts) == 1


async def test_not_resolved_verdict(resident: Resident, portal: FakePortal) -> None:
    case = a_case(portal, resident, status="resolved")
    number = case["tracking_number"]
    await resident.press(f"v:{number}:n")
    said = await resident.press(f"v:{number}:n:1")
    assert portal.verdicts == [(number, False, 1)]
    assert "the problem is not solved" in texts(said)


async def test_verdict_refused_by_the_portal_is_explained(
    resident: Resident, portal: FakePortal
) -> None:
    case = a_case(portal, resident, status="resolved")
    portal.verdicts.append((case["tracking_number"], True, 5))  # rated on the website already
    said = await resident.press(f"v:{case['tracking_number']}:y:5")
    assert "You have already rated this case." in texts(said)
    broken = await resident.press("v:LJ-1:maybe")
    assert "no longer active" in texts(broken)


async def test_notifications_say_what_happened(
    resident: Resident, portal: FakePortal, telegram: FakeTelegram
) -> None:
    await resident.say("/start")  # the resident's language (en) is known from now on
    case = a_case(portal, resident)
    portal.notify(
        resident.id,
        "status_changed",
        case["tracking_number"],
        status="assigned",
        event="transfer",
        note="转交区住建局处理。",
    )
    await poll_notifications(resident.app)
    text = telegram.sent()[-1].text
    assert "Sent to the department" in text and "Transferred to another department" in text
    assert "转交区住建局处理。" in text and case["url"] in text


async def test_status_command_while_waiting_for_a_number(
    resident: Resident, portal: FakePortal
) -> None:
    case = a_case(portal, resident)
    await resident.say("Check a case")
    said = await resident.say(f"/status {case['tracking_number']}")
    assert f"Case {case['tracking_number']}" in texts(said)
    after = await resident.say("/help")
    assert "How I can help" in texts(after)


async def test_news_not_about_a_case(
    resident: Resident, portal: FakePortal, telegram: FakeTelegram
) -> None:
    await resident.say("/start")  # the resident's language (en) is known from now on
    portal.feed.append(
        {
            "id": 1,
            "recipient": f"telegram:{resident.id}",
            "kind": "proposal_answered",
            "tracking_number": None,
            "status": None,
            "event": None,
            "note": "您支持的建议已得到答复。",
            "url": "http://portal.test/proposals/3",
        }
    )
    await poll_notifications(resident.app)
    text = telegram.sent()[-1].text
    assert text == "News from the portal:\n您支持的建议已得到答复。\nhttp://portal.test/proposals/3"


async def test_double_tap_on_resolved_and_an_uneditable_message(
    resident: Resident, portal: FakePortal, telegram: FakeTelegram
) -> None:
    case = a_case(portal, resident, status="resolved")
    number = case["tracking_number"]
    await resident.press(f"v:{number}:y")
    telegram.fail["editMessageReplyMarkup"].append(
        {"ok": False, "error_code": 400, "description": "Bad Request: message is not modified"}
    )
    again = await resident.press(f"v:{number}:y")  # a double tap: asked again, no error
    assert "How satisfied are you" in texts(again) and "went wrong" not in texts(again)
    telegram.fail["editMessageText"].append(
        {"ok": False, "error_code": 400, "description": "Bad Request: message to edit not found"}
    )
    rated = await resident.press(f"v:{number}:y:5")
    assert "Thank you for your rating!" in texts(rated)
    assert rated[-1].method == "sendMessage"
