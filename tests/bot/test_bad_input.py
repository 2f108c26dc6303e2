"""Bad input: a short, clear answer, and the conversation goes on."""

from __future__ import annotations

from tests.bot.conftest import Resident, texts
from tests.bot.fakes import FakePortal

REPORT = "小区门口的路灯坏了一个多星期，晚上很黑"
STICKER = {
    "file_id": "st1",
    "file_unique_id": "st1u",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
}
VOICE = {"file_id": "v1", "file_unique_id": "v1u", "duration": 3}
DOCUMENT = {
    "file_id": "d1",
    "file_unique_id": "d1u",
    "file_name": "report.pdf",
    "mime_type": "application/pdf",
}


async def test_sticker_voice_and_file_outside_a_conversation(resident: Resident) -> None:
    for content in ({"sticker": STICKER}, {"voice": VOICE}, {"document": DOCUMENT}):
        said = await resident.send(**content)
        assert len(said) == 1
        assert "I cannot read stickers, voice messages or files" in said[0].text
        assert said[0].buttons[0][0] == "Report a problem"


async def test_sticker_voice_and_file_while_describing_keep_the_draft(
    resident: Resident, portal: FakePortal
) -> None:
    await resident.say("Report a problem")
    await resident.say(REPORT)
    for content in ({"sticker": STICKER}, {"voice": VOICE}, {"document": DOCUMENT}):
        said = await resident.send(**content)
        assert "Please type your message" in texts(said)
    await resident.press(resident.button("Done"))
    assert portal.calls == ["preview"]
    assert resident.app.user_data[resident.id]["draft"]["texts"] == [REPORT]


async def test_a_10000_character_message_is_refused_and_the_report_goes_on(
    resident: Resident,
) -> None:
    await resident.say("Report a problem")
    said = await resident.say("很" * 10_000)
    assert "That is too long" in texts(said) and "10000" in texts(said)
    assert resident.app.user_data[resident.id]["draft"]["texts"] == []
    noted = await resident.say(REPORT)
    assert "Noted" in texts(noted)
    # also as the very first message, outside any conversation
    await resident.say("/cancel")
    said = await resident.say("长" * 10_000)
    assert "That is too long" in texts(said)


async def test_done_without_words_asks_for_some(resident: Resident, portal: FakePortal) -> None:
    await resident.say("Report a problem")
    await resident.photo("p9")
    said = await resident.press(resident.button("Done"))
    assert "Please write at least a few words first." in texts(said)
    assert portal.calls == []


async def test_too_short_description_is_explained_by_the_portal(resident: Resident) -> None:
    await resident.say("Report a problem")
    await resident.say("灯")
    said = await resident.press(resident.button("Done"))
    assert "at least 5 characters" in texts(said)
    assert "press “Done” again" in texts(said)
    await resident.say("路口的灯坏了很多天")
    preview = await resident.press(resident.button("Done"))
    assert "This is what I understood" in texts(preview)


async def test_location_outside_the_jurisdiction_asks_for_another_place(
    resident: Resident, portal: FakePortal
) -> None:
    await resident.say("Report a problem")
    await resident.say(REPORT)
    await resident.press(resident.button("Done"))
    await resident.press(resident.button("Yes, continue"))
    await resident.location(31.23, 121.47)  # Shanghai
    await resident.say("Next")
    await resident.say("No phone number")
    refused = await resident.press(resident.button("Send it"))
    assert "outside our district" in texts(refused)
    assert "Please share another place" in texts(refused)
    assert portal.submissions == []
    summary = await resident.say("岳麓区桐梓坡路 88 号")
    assert "Place: 岳麓区桐梓坡路 88 号" in texts(summary)
    done = await resident.press(resident.button("Send it"))
    assert "registered as" in texts(done)
    submission = portal.submissions[0][1]
    assert submission.lat is None and submission.address == "岳麓区桐梓坡路 88 号"


async def test_unknown_tracking_number(resident: Resident) -> None:
    said = await resident.say("/status LJ-2611-9999-1")
    assert "I found no case with the number LJ-2611-9999-1" in texts(said)
    # the lookup waits for a better number; /cancel leaves it
    again = await resident.say("LJ-2611-9999-2")
    assert "I found no case" in texts(again)
    left = await resident.say("/cancel")
    assert texts(left) == "OK."


async def test_pressing_an_old_button(resident: Resident, portal: FakePortal) -> None:
    stale = await resident.press("r:0123456789ab:send")
    assert stale[0].method == "answerCallbackQuery"
    assert "This button is no longer active" in stale[0].params["text"]
    nonsense = await resident.press("zzz")
    assert "no longer active" in texts(nonsense)
    # an old button from an earlier draft while a new report is under way
    await resident.say("Report a problem")
    await resident.say(REPORT)
    old = await resident.press("r:0123456789ab:done")
    assert "no longer active" in texts(old)
    assert portal.calls == []
    fine = await resident.press(resident.button("Done"))  # the conversation goes on
    assert "This is what I understood" in texts(fine)
    wrong_step = await resident.press(resident.button("Done"))  # Done again, now in another step
    assert "no longer active" in texts(wrong_step)


async def test_typing_instead_of_pressing_the_buttons(resident: Resident) -> None:
    await resident.say("Report a problem")
    await resident.say(REPORT)
    await resident.press(resident.button("Done"))
    hint = await resident.say("嗯")
    assert "Please answer with the buttons above" in texts(hint)
    await resident.press(resident.button("Yes, continue"))
    await resident.say("Skip")
    hint = await resident.send(sticker=STICKER)
    assert "Please send photos as photos" in texts(hint)
    await resident.say("Next")
    hint = await resident.say("13800138000")
    assert "Please press “Share my phone number”" in texts(hint)
    someone_else = await resident.share_contact("13900000000", user_id=1)
    assert "share your own phone number" in texts(someone_else)
    summary = await resident.share_contact()
    assert "Please check your report" in texts(summary)
    hint = await resident.say("好的")
    assert "Press “Send it”" in texts(hint)


async def test_unknown_command(resident: Resident) -> None:
    said = await resident.say("/frobnicate")
    assert "I do not know that command" in texts(said)


async def test_a_contact_or_a_stale_step_button_while_describing(resident: Resident) -> None:
    await resident.say("Report a problem")
    await resident.say(REPORT)
    contact = await resident.share_contact()
    assert "Please type your message" in texts(contact)
    skip = await resident.say("Skip")
    assert "Please describe the problem in your own words" in texts(skip)
    await resident.press(resident.button("Done"))
    located = await resident.location(28.2, 112.9)  # in the confirm step
    assert "Please answer with the buttons above" in texts(located)
    assert resident.app.user_data[resident.id]["draft"]["texts"] == [REPORT]
