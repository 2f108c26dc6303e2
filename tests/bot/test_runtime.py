"""The bot's plumbing: repeated updates, Telegram's 429, languages, persistence, help, linking."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from bot.app import build_application
from bot.throttle import RetryAfterLimiter
from tests.bot.conftest import Resident, bot_settings, texts
from tests.bot.fakes import FakePortal, FakeTelegram

REPORT = "小区门口的路灯坏了一个多星期，晚上很黑"


async def test_a_repeated_update_is_handled_once(resident: Resident, portal: FakePortal) -> None:
    await resident.say("Report a problem")
    await resident.say(REPORT)
    done = resident.button("Done")
    first = await resident.press(done, update_id=900_001)
    repeat = await resident.press(done, update_id=900_001)
    assert "This is what I understood" in texts(first)
    assert repeat == []
    assert portal.calls.count("preview") == 1


async def test_update_ids_are_remembered_exactly_not_by_high_water_mark(resident: Resident) -> None:
    assert await resident.say("/help") != []
    high = await resident.feed({"message": resident._message(text="hi")}, update_id=10_000_000)
    assert high != []
    # Telegram may restart ids lower after a long silence: a new low id is still handled
    low = await resident.feed(
        {
            "message": resident._message(
                text="/help", entities=[{"type": "bot_command", "offset": 0, "length": 5}]
            )
        },
        update_id=7,
    )
    assert "How I can help" in texts(low)


async def test_telegram_429_waits_retry_after_and_sends_again(
    telegram: FakeTelegram, portal: FakePortal
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    app = build_application(
        bot_settings(),
        portal,
        request=telegram,
        get_updates_request=telegram,
        rate_limiter=RetryAfterLimiter(sleep=sleep),
    )
    async with app:
        resident = Resident(app, telegram)
        telegram.fail["sendMessage"].append(
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 7",
                "parameters": {"retry_after": 7},
            }
        )
        calls = await resident.say("/start")
    sends = [c for c in calls if c.method == "sendMessage"]
    assert len(sends) == 2 and sends[0].params == sends[1].params
    assert slept and slept[0] >= 7


async def test_telegram_429_gives_up_after_a_few_tries(
    telegram: FakeTelegram, portal: FakePortal
) -> None:
    async def sleep(seconds: float) -> None:
        return None

    app = build_application(
        bot_settings(),
        portal,
        request=telegram,
        get_updates_request=telegram,
        rate_limiter=RetryAfterLimiter(max_retries=2, sleep=sleep),
    )
    async with app:
        resident = Resident(app, telegram)
        for _ in range(3):
            telegram.fail["sendMessage"].append(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests",
                    "parameters": {"retry_after": 1},
                }
            )
        calls = await resident.say("/help")
    sends = [c for c in calls if c.method == "sendMessage"]
    assert len(sends) == 4  # the help text 3 times (1 + 2 retries), then the error reply
    assert "How I can help" in sends[2].text
    assert sends[3].text == "Sorry, something went wrong on my side. Please try again."


async def test_language_follows_telegram_and_can_be_switched(
    bot_app, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    chinese = Resident(bot_app, telegram, user_id=501, language_code="zh-hans")
    await chinese.say("/start")
    assert bot_app.user_data[501]["locale"] == "zh_Hans_CN"
    english = Resident(bot_app, telegram, user_id=502, language_code="de")
    await english.say("/start")
    assert bot_app.user_data[502]["locale"] == "en"
    offered = await english.say("/language")
    assert [label for label, _ in offered[-1].buttons] == ["中文", "English"]
    await english.press("lang:zh_Hans_CN")
    assert bot_app.user_data[502]["locale"] == "zh_Hans_CN"
    switched = await english.press("lang:en")
    assert "Language: English. Send /language to change it." in texts(switched)
    assert bot_app.user_data[502]["locale"] == "en"


async def test_chinese_greeting_and_menu_come_from_the_catalogue(
    tmp_path: Path, telegram: FakeTelegram, portal: FakePortal
) -> None:
    """The zh_Hans_CN catalogue is really used (a catalogue named zh_CN would silently not be)."""
    catalog = Catalog(locale="zh_Hans_CN", domain="messages")
    catalog.add("Report a problem", "反映问题")
    catalog.add("Make a proposal", "提建议")
    catalog.add("Check a case", "查询进度")
    catalog.add("My cases", "我的事项")
    catalog.add("Proposals nearby", "附近的建议")
    catalog.add("Help", "帮助")
    catalog.add(
        "Choose below, or simply write what is wrong.", "请在下方选择，或直接写下您遇到的问题。"
    )
    catalog.add(
        "Tell me what is wrong, in your own words: what, where, since when. You can send several messages and photos; press “Done” when you have finished.",
        "请用您自己的话说说遇到了什么问题。",
    )
    folder = tmp_path / "zh_Hans_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with open(folder / "messages.mo", "wb") as handle:
        write_mo(handle, catalog)
    app = build_application(
        bot_settings(locales_dir=tmp_path), portal, request=telegram, get_updates_request=telegram
    )
    try:
        async with app:
            resident = Resident(app, telegram, user_id=601, language_code="zh-hans")
            greeting = await resident.say("/start")
            assert "请在下方选择，或直接写下您遇到的问题。" in greeting[-1].text
            assert [label for label, _ in greeting[-1].buttons] == [
                "反映问题",
                "提建议",
                "查询进度",
                "我的事项",
                "附近的建议",
                "帮助",
            ]
            started = await resident.say("反映问题")  # the Chinese button text is understood
            assert "请用您自己的话说说遇到了什么问题。" in texts(started)
    finally:
        from bot.i18n import use_locales_dir

        use_locales_dir(None)


async def test_a_draft_survives_a_restart(
    tmp_path: Path, telegram: FakeTelegram, portal: FakePortal
) -> None:
    state = tmp_path / "bot-state.pickle"
    first = build_application(
        bot_settings(state_file=state), portal, request=telegram, get_updates_request=telegram
    )
    async with first:
        resident = Resident(first, telegram)
        await resident.say("Report a problem")
        await resident.say(REPORT)
        await resident.press(resident.button("Done"))
        await resident.press(resident.button("Yes, continue"))
        await first.update_persistence()
    second = build_application(
        bot_settings(state_file=state), portal, request=telegram, get_updates_request=telegram
    )
    async with second:
        resident = Resident(second, telegram)
        # still in the location step, with the draft
        await resident.say("Skip")
        await resident.say("Next")
        await resident.say("No phone number")
        done = await resident.press(resident.button("Send it"))
    assert "registered as" in texts(done)
    assert portal.submissions[0][1].text == REPORT


async def test_help_and_link(resident: Resident) -> None:
    help_ = await resident.say("/help")
    assert "How I can help" in texts(help_) and "/status" in texts(help_)
    how = await resident.say("/link")
    assert "http://portal.test/account/link-code" in texts(how)
    bad = await resident.say("/link WRONG")
    assert "This linking code is not valid." in texts(bad)
    good = await resident.say("/link ABCD2345")
    assert "connected to the portal account of Wang" in texts(good)


def test_the_bot_imports_nothing_from_the_portal() -> None:
    code = "import sys, bot.app, bot.__main__, bot.webhook; print(sorted(m for m in sys.modules if m.split('.')[0] in ('portal', 'sqlalchemy', 'flask')))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert result.stdout.strip() == "[]"


async def test_background_loops_deliver_notifications_until_stopped(
    telegram: FakeTelegram, portal: FakePortal
) -> None:
    import asyncio

    from bot.app import start_background, stop_background

    app = build_application(
        bot_settings(poll_seconds=0.01), portal, request=telegram, get_updates_request=telegram
    )
    async with app:
        case = portal.add_case(submitter=4242)
        portal.notify(4242, "status_changed", case["tracking_number"], status="assigned")
        portal.down = True  # the first rounds fail; the loop carries on
        await start_background(app)
        await asyncio.sleep(0.05)
        portal.down = False
        for _ in range(100):
            if portal.acked:
                break
            await asyncio.sleep(0.01)
        await stop_background(app)
        assert all(task.done() for task in app.background) and app.background == []
    assert portal.acked == {1}
    assert [c.params["chat_id"] for c in telegram.sent("sendMessage")] == [4242]


async def test_edited_messages_and_group_chats(
    resident: Resident, bot_app, telegram: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    await resident.say("Report a problem")
    await resident.say(REPORT)
    edited = await resident.feed(
        {"edited_message": {**resident._message(text=REPORT + "！"), "edit_date": 1}}
    )
    assert "not edits" in texts(edited)
    assert bot_app.user_data[resident.id]["draft"]["texts"] == [REPORT]
    group_message = resident._message(
        text="/start", entities=[{"type": "bot_command", "offset": 0, "length": 6}]
    )
    group_message["chat"] = {"id": -100123, "type": "supergroup", "title": "小区群"}
    assert await resident.feed({"message": group_message}) == []


async def test_saved_drafts_and_delivered_notifications_survive_a_restart(
    tmp_path: Path, telegram: FakeTelegram, portal: FakePortal
) -> None:
    from bot.notifications import poll_notifications
    from bot.submission import deliver_pending

    state = tmp_path / "bot-state.pickle"
    first = build_application(
        bot_settings(state_file=state), portal, request=telegram, get_updates_request=telegram
    )
    async with first:
        resident = Resident(first, telegram)
        await resident.say("Report a problem")
        await resident.say(REPORT)
        await resident.press(resident.button("Done"))
        await resident.press(resident.button("Yes, continue"))
        await resident.say("Skip")
        await resident.say("Next")
        await resident.say("No phone number")
        portal.down = True
        await resident.press(resident.button("Send it"))
        portal.down = False
        case = portal.add_case(submitter=resident.id)
        portal.notify(resident.id, "status_changed", case["tracking_number"], status="accepted")
        portal.ack_failures = 1
        assert await poll_notifications(first) == 1  # shown, but the ack was lost
        await first.update_persistence()
    second = build_application(
        bot_settings(state_file=state), portal, request=telegram, get_updates_request=telegram
    )
    async with second:
        second.clock = lambda: 10**12
        assert await deliver_pending(second) == 1
        assert await poll_notifications(second) == 0  # not shown twice
    assert len(portal.submissions) == 1 and portal.submissions[0][1].text == REPORT
    assert portal.acked == {1}
    shown = [c for c in telegram.sent("sendMessage") if "Update on your case" in c.text]
    assert len(shown) == 1


async def test_the_chinese_menu_names_work_when_typed(
    resident: Resident, portal: FakePortal
) -> None:
    started = await resident.say("提建议")
    assert "Describe your proposal" in texts(started)
    await resident.say("/cancel")
    mine = await resident.say("我的事项")
    assert "You have no cases yet" in texts(mine)
    asked = await resident.say("查询进度")
    assert "Send me the tracking number" in texts(asked)
