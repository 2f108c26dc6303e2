"""Phone confirmation through the bot, offline (fake Telegram, fake portal): the resident's own
contact card confirms the phone (level 1), from /verify or inside the report flow; someone
else's card is explained and never reaches the portal."""

from __future__ import annotations

from tests.bot.conftest import Resident, texts
from tests.bot.fakes import FakePortal


async def test_verify_offers_the_contact_button_and_confirms_own_contact(
    resident: Resident, portal: FakePortal
) -> None:
    offer = await resident.say("/verify")
    assert "To confirm your phone number, press “Share my phone number”" in texts(offer)
    assert "Send /verify followed by the code" in texts(offer)
    button = offer[-1].keyboard["keyboard"][0][0]
    assert button["text"] == "Share my phone number" and button["request_contact"] is True

    confirmed = await resident.share_contact("13800138000")
    assert texts(confirmed) == (
        "Thank you: your phone number is confirmed and your account is now “phone confirmed”."
    )
    assert portal.phones == {resident.id: "13800138000"}
    # The menu comes back (the contact keyboard is gone).
    assert confirmed[-1].keyboard["keyboard"][0][0]["text"] == "Report a problem"

    again = await resident.share_contact("13800138000")
    assert (
        texts(again)
        == "Your phone number was already confirmed; your account is “phone confirmed”."
    )
    assert portal.calls.count("confirm_phone") == 2


async def test_someone_elses_contact_is_explained_not_sent(
    resident: Resident, portal: FakePortal
) -> None:
    await resident.say("/verify")
    other = await resident.share_contact("13900000000", user_id=1)
    assert "That is someone else's contact card" in texts(other)
    assert other[-1].keyboard["keyboard"][0][0]["request_contact"] is True
    # A forwarded card without any Telegram user id proves nothing either.
    no_id = await resident.send(contact={"phone_number": "13900000000", "first_name": "X"})
    assert "That is someone else's contact card" in texts(no_id)
    assert "confirm_phone" not in portal.calls and portal.phones == {}


async def test_portal_down_or_refusing(resident: Resident, portal: FakePortal) -> None:
    portal.down = True
    down = await resident.share_contact()
    assert "I cannot reach the portal right now" in texts(down)
    portal.down = False
    no = await resident.say("No phone number")
    assert texts(no) == "OK."


async def test_report_flow_contact_also_confirms_the_phone(
    resident: Resident, portal: FakePortal
) -> None:
    await resident.say("Report a problem")
    await resident.say("小区门口的路灯坏了一个多星期，晚上很黑")
    await resident.press(resident.button("Done"))
    await resident.press(resident.button("Yes, continue"))
    await resident.say("Skip")
    asked = await resident.say("Next")
    assert "It also confirms your account's phone number" in texts(asked)
    someone_else = await resident.share_contact("13900000000", user_id=1)
    assert "share your own phone number" in texts(someone_else)
    assert "confirm_phone" not in portal.calls
    shared = await resident.share_contact("13800138000")
    assert "your phone number is confirmed" in texts(shared)
    assert "Please check your report" in texts(shared)
    assert portal.phones == {resident.id: "13800138000"}
    await resident.press(resident.button("Send it"))
    assert portal.submissions[0][1].contact_phone == "13800138000"


async def test_report_goes_on_when_the_portal_cannot_confirm(
    resident: Resident, portal: FakePortal
) -> None:
    await resident.say("Report a problem")
    await resident.say("小区门口的路灯坏了一个多星期，晚上很黑")
    await resident.press(resident.button("Done"))
    await resident.press(resident.button("Yes, continue"))
    await resident.say("Skip")
    await resident.say("Next")
    portal.down = True
    shared = await resident.share_contact("13800138000")
    portal.down = False
    assert "your phone number is confirmed" not in texts(shared)
    assert "Please check your report" in texts(shared)
