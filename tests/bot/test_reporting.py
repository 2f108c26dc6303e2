"""Reporting through the bot, offline: fake Telegram transport and fake portal, transcript checks."""

from __future__ import annotations

import base64

from tests.bot.conftest import Resident, texts
from tests.bot.fakes import FakePortal, FakeTelegram

REPORT = "小区门口的路灯坏了一个多星期，晚上很黑"


async def describe(resident: Resident, *messages: str) -> None:
    await resident.say("Report a problem")
    for message in messages:
        await resident.say(message)
    await resident.press(resident.button("Done"))


async def test_start_shows_the_menu_in_english_for_english_users(resident: Resident) -> None:
    calls = await resident.say("/start")
    assert calls[0].method == "sendMessage"
    assert "Hello, Lin!" in calls[0].text
    labels = [label for label, _ in calls[0].buttons]
    assert labels == [
        "Report a problem",
        "Make a proposal",
        "Check a case",
        "My cases",
        "Proposals nearby",
        "Help",
    ]


async def test_full_report_with_location_photo_and_phone(
    resident: Resident, portal: FakePortal, telegram: FakeTelegram
) -> None:
    await resident.say("Report a problem")
    await resident.say("小区门口的路灯坏了")
    noted = await resident.say("一个多星期了，晚上很黑")
    assert "Noted" in noted[0].text
    preview = await resident.press(resident.button("Done"))
    card = texts(preview)
    assert "Type: Complaint" in card
    assert "Category: Urban construction › Street lights" in card  # English names for English users
    assert "It will go to: Urban Management Bureau" in card
    assert portal.calls.count("preview") == 1

    asked = await resident.press(resident.button("Yes, continue"))
    assert "Where is it?" in texts(asked)
    location_button = asked[-1].keyboard["keyboard"][0][0]
    assert location_button["request_location"] is True

    await resident.location(28.222, 112.860)
    await resident.photo("p1")
    photos_done = await resident.say("Next")
    assert "May the department call you" in texts(photos_done)
    assert photos_done[-1].keyboard["keyboard"][0][0]["request_contact"] is True

    summary = await resident.share_contact("13800138000")
    summary_text = texts(summary)
    assert "Please check your report" in summary_text
    assert "Place: the location you shared" in summary_text
    assert "Photos: 1" in summary_text
    assert "Phone: shared with the department only" in summary_text

    done = await resident.press(resident.button("Send it"))
    assert len(portal.submissions) == 1
    who, submission, key = portal.submissions[0]
    assert who.telegram_id == resident.id and who.locale == "en"
    assert submission.text == "小区门口的路灯坏了\n一个多星期了，晚上很黑"
    assert (submission.lat, submission.lon) == (28.222, 112.860)
    assert submission.contact_phone == "13800138000" and submission.consent is True
    assert [p.data for p in submission.photos] == [b"\xff\xd8\xffp1jpeg"]  # the largest size
    assert telegram.downloads == ["photos/p1.jpg"]
    assert key.startswith(f"telegram-{resident.id}-")
    body = submission.to_json()
    assert base64.b64decode(body["photos"][0]["data_base64"]) == b"\xff\xd8\xffp1jpeg"
    number = next(iter(portal.cases))
    reply = texts(done)
    assert f"registered as {number}" in reply
    assert f"http://portal.test/cases/{number}" in reply


async def test_typed_address_and_skipping_photos_and_phone(
    resident: Resident, portal: FakePortal
) -> None:
    await describe(resident, REPORT)
    await resident.press(resident.button("Yes, continue"))
    noted = await resident.say("岳麓区桐梓坡路 88 号")
    assert "Address noted" in texts(noted)
    await resident.say("Next")
    summary = await resident.say("No phone number")
    assert "Phone: not shared" in texts(summary)
    await resident.press(resident.button("Send it"))
    submission = portal.submissions[0][1]
    assert submission.address == "岳麓区桐梓坡路 88 号"
    assert (
        submission.lat is None and submission.contact_phone is None and submission.consent is False
    )


async def test_proposal_button_submits_kind_proposal(
    resident: Resident, portal: FakePortal
) -> None:
    prompt = await resident.say("Make a proposal")
    assert "Describe your proposal" in texts(prompt)
    await resident.say("建议在公园里多装几个长椅，老人散步走累了可以休息")
    preview = await resident.press(resident.button("Done"))
    assert "Type: Proposal" in texts(preview)
    await resident.press(resident.button("continue"))
    await resident.say("Skip")
    await resident.say("Next")
    await resident.say("No phone number")
    await resident.press(resident.button("Send it"))
    assert portal.submissions[0][1].kind == "proposal"


async def test_choosing_another_category_from_the_catalogue(
    bot_app, telegram: FakeTelegram, portal: FakePortal
) -> None:
    resident = Resident(bot_app, telegram, user_id=777, language_code="zh-hans")
    t = resident.t
    await resident.say(t("Report a problem"))
    await resident.say("楼下晚上有人一直唱歌到半夜")
    await resident.press(resident.button(t("Done")))
    groups = await resident.press(resident.button(t("Choose another category")))
    assert [label for label, _ in groups[-1].buttons] == ["城乡建设", "环境保护"]
    categories = await resident.press(resident.button("环境保护"))
    assert [label for label, _ in categories[-1].buttons] == ["噪声污染", t("Back")]
    chosen = await resident.press(resident.button("噪声污染"))
    assert t("Category set: %(name)s.", name="环境保护 › 噪声污染") in texts(chosen)
    await resident.say(t("Skip"))
    await resident.say(t("Next"))
    summary = await resident.say(t("No phone number"))
    assert t("Category: %(name)s", name="环境保护 › 噪声污染") in texts(summary)
    await resident.press(resident.button(t("Send it")))
    assert portal.submissions[0][1].category_code == "G02-01"
    assert portal.submissions[0][0].locale == "zh_Hans_CN"
    assert portal.calls.count("catalogue") == 1  # cached


async def test_catalogue_names_in_english_for_english_residents(resident: Resident) -> None:
    await describe(resident, "楼下晚上有人一直唱歌到半夜")
    groups = await resident.press(resident.button("Choose another category"))
    assert [label for label, _ in groups[-1].buttons] == ["Urban construction", "Environment"]


async def test_same_problem_follows_the_similar_case_instead(
    resident: Resident, portal: FakePortal
) -> None:
    existing = portal.add_case(
        title="桐梓坡路路灯不亮",
        status="accepted",
        department={"code": "urban", "name": "区城管局"},
    )
    number = existing["tracking_number"]
    portal.similar = [
        {
            "tracking_number": number,
            "title": existing["title"],
            "status": "accepted",
            "score": 0.8,
            "distance_m": 40.0,
            "url": existing["url"],
        }
    ]
    preview = await describe_and_get_preview(resident)
    card = texts(preview)
    assert "Residents have already reported similar problems" in card
    assert number in card and "Being handled" in card
    followed = await resident.press(resident.button(f"Same problem: {number}"))
    assert f"You now follow case {number}" in texts(followed)
    assert resident.id in portal.followers[number]
    assert existing["me_too_count"] == 1
    assert portal.submissions == []
    # the conversation is over: the old buttons are stale now
    stale = await resident.press(f"r:{'x' * 12}:ok")
    assert "no longer active" in texts(stale)


async def describe_and_get_preview(resident: Resident) -> list:
    await resident.say("Report a problem")
    await resident.say(REPORT)
    return await resident.press(resident.button("Done"))


async def test_submit_anyway_when_similar_cases_exist(
    resident: Resident, portal: FakePortal
) -> None:
    existing = portal.add_case()
    portal.similar = [
        {
            "tracking_number": existing["tracking_number"],
            "title": "x",
            "status": "triage",
            "score": 0.7,
            "distance_m": None,
            "url": "",
        }
    ]
    await describe_and_get_preview(resident)
    asked = await resident.press(resident.button("Not the same, continue"))
    assert "Where is it?" in texts(asked)


async def test_double_tap_on_send_makes_one_case(resident: Resident, portal: FakePortal) -> None:
    await describe(resident, REPORT)
    await resident.press(resident.button("Yes, continue"))
    await resident.say("Skip")
    await resident.say("Next")
    await resident.say("No phone number")
    send = resident.button("Send it")
    first = await resident.press(send)
    second = await resident.press(send)
    assert len(portal.submissions) == 1
    number = next(iter(portal.cases))
    assert f"registered as {number}" in texts(first)
    assert f"Already sent: your report is {number}" in texts(second)


async def test_retried_submission_uses_the_same_idempotency_key(
    resident: Resident, portal: FakePortal
) -> None:
    await describe(resident, REPORT)
    await resident.press(resident.button("Yes, continue"))
    await resident.say("Skip")
    await resident.say("Next")
    await resident.say("No phone number")
    portal.down = True
    outage = await resident.press(resident.button("Send it"))
    assert "Your report is saved" in texts(outage)
    pending = resident.app.bot_data["pending"]
    (entry,) = pending.values()
    # the portal comes back; the saved draft goes out with the key the first try used
    portal.down = False
    from bot.submission import deliver_pending

    clock = [resident.app.clock()]
    resident.app.clock = lambda: clock[0]
    assert await deliver_pending(resident.app) == 0  # not due yet: backoff
    clock[0] += 31
    before = len(resident.telegram.calls)
    assert await deliver_pending(resident.app) == 1
    (who, submission, key) = portal.submissions[0]
    assert key == f"telegram-{resident.id}-{entry['draft']['id']}"
    assert submission.text == REPORT
    told = texts(resident.telegram.calls[before:])
    assert "The portal is back." in told and "registered as" in told
    assert pending == {}
    # delivering again (e.g. after a crash before the draft was forgotten) replays, never duplicates
    await portal.submit_case(who, submission, idempotency_key=key)
    assert len(portal.cases) == 1


async def test_outage_during_preview_keeps_the_draft_and_retries_with_backoff(
    resident: Resident, portal: FakePortal
) -> None:
    from bot.submission import deliver_pending

    await resident.say("Report a problem")
    await resident.say(REPORT)
    portal.down = True
    said = await resident.press(resident.button("Done"))
    assert "I cannot reach the portal right now" in texts(said)
    assert "Where is it?" in texts(said)  # the conversation goes on
    await resident.say("Skip")
    await resident.say("Next")
    await resident.say("No phone number")
    await resident.press(resident.button("Send it"))
    clock = [resident.app.clock()]
    resident.app.clock = lambda: clock[0]
    attempts = []
    for _ in range(3):  # still down: each retry waits longer
        clock[0] += 10_000
        await deliver_pending(resident.app)
        (entry,) = resident.app.bot_data["pending"].values()
        attempts.append(entry["next_at"] - clock[0])
    assert attempts == [60.0, 120.0, 240.0]
    portal.down = False
    clock[0] += 10_000
    assert await deliver_pending(resident.app) == 1
    assert len(portal.cases) == 1


async def test_saved_draft_refused_later_gives_the_text_back(
    resident: Resident, portal: FakePortal
) -> None:
    from bot.submission import deliver_pending

    await describe(resident, REPORT)
    await resident.press(resident.button("Yes, continue"))
    await resident.location(31.23, 121.47)  # Shanghai: outside the district
    await resident.say("Next")
    await resident.say("No phone number")
    portal.down = True
    await resident.press(resident.button("Send it"))
    portal.down = False
    resident.app.clock = lambda: 10**12
    before = len(resident.telegram.calls)
    assert await deliver_pending(resident.app) == 0
    told = texts(resident.telegram.calls[before:])
    assert "could not be accepted" in told and "outside our district" in told and REPORT in told
    assert resident.app.bot_data["pending"] == {}


async def test_cancel_at_any_step(resident: Resident, portal: FakePortal) -> None:
    for steps in (
        [],
        ["done"],
        ["done", "ok"],
        ["done", "ok", "Skip"],
        ["done", "ok", "Skip", "Next"],
    ):
        await resident.say("Report a problem")
        await resident.say(REPORT)
        for step in steps:
            if step == "done":
                await resident.press(resident.button("Done"))
            elif step == "ok":
                await resident.press(resident.button("Yes, continue"))
            else:
                await resident.say(step)
        cancelled = await resident.say("/cancel")
        assert "Cancelled. Nothing was sent." in texts(cancelled), steps
        assert "draft" not in resident.app.user_data[resident.id]
    # cancel from the summary's button too
    await describe(resident, REPORT)
    await resident.press(resident.button("Yes, continue"))
    await resident.say("Skip")
    await resident.say("Next")
    await resident.say("No phone number")
    cancelled = await resident.press(resident.button("Cancel"))
    assert "Cancelled. Nothing was sent." in texts(cancelled)
    assert portal.submissions == []
    nothing = await resident.say("/cancel")
    assert "There is nothing to cancel." in texts(nothing)


async def test_free_text_starts_a_report(resident: Resident) -> None:
    said = await resident.say(REPORT)
    assert "Noted" in texts(said)
    preview = await resident.press(resident.button("Done"))
    assert "This is what I understood" in texts(preview)


async def test_menu_during_a_report_keeps_the_draft(resident: Resident, portal: FakePortal) -> None:
    await resident.say("Report a problem")
    await resident.say(REPORT)
    middle = await resident.say("/start")
    assert "You are in the middle of a report" in texts(middle)
    help_ = await resident.say("Help")
    assert "How I can help" in texts(help_)
    await resident.press(resident.button("Done"))
    assert portal.calls.count("preview") == 1
    assert resident.app.user_data[resident.id]["draft"]["texts"] == [REPORT]


async def test_a_submission_still_in_progress_offers_send_again(
    resident: Resident, portal: FakePortal
) -> None:
    from bot.gateway import ConflictError

    await describe(resident, REPORT)
    await resident.press(resident.button("Yes, continue"))
    await resident.say("Skip")
    await resident.say("Next")
    await resident.say("No phone number")
    original = portal.submit_case
    answers = iter(
        [
            ConflictError(
                "A request with this Idempotency-Key is being processed; retry shortly.", status=409
            )
        ]
    )

    async def busy_once(*args, **kwargs):  # type: ignore[no-untyped-def]
        for error in answers:
            raise error
        return await original(*args, **kwargs)

    portal.submit_case = busy_once  # type: ignore[method-assign]
    busy = await resident.press(resident.button("Send it"))
    assert "being processed" in texts(busy) and "Please check your report" in texts(busy)
    done = await resident.press(resident.button("Send it"))
    assert "registered as" in texts(done)
    assert len(portal.submissions) == 1


async def test_sharing_the_place_shows_similar_cases_nearby(
    resident: Resident, portal: FakePortal
) -> None:
    await describe(resident, REPORT)  # no similar case without a place
    await resident.press(resident.button("Yes, continue"))
    nearby = portal.add_case(title="桐梓坡路路灯不亮", status="assigned")
    number = nearby["tracking_number"]
    portal.similar = [
        {
            "tracking_number": number,
            "title": nearby["title"],
            "status": "assigned",
            "score": 0.8,
            "distance_m": 35.0,
            "url": nearby["url"],
        }
    ]
    shown = await resident.location(28.222, 112.860)
    assert "Location received." in texts(shown)
    assert number in texts(shown) and "Residents have already reported similar problems" in texts(
        shown
    )
    assert portal.calls.count("preview") == 2
    goes_on = await resident.press(resident.button("Not the same, continue"))
    assert "Photos help the department" in texts(goes_on)  # the place is known: straight to photos
    await resident.say("Next")
    await resident.say("No phone number")
    await resident.press(resident.button("Send it"))
    assert portal.submissions[0][1].lat == 28.222


async def test_the_summary_names_the_predicted_category(resident: Resident) -> None:
    await describe(resident, REPORT)
    await resident.press(resident.button("Yes, continue"))
    await resident.say("Skip")
    more = await resident.photo("p1")
    assert "Send another, or press “Next”" in texts(more)
    await resident.say("Next")
    summary = await resident.say("No phone number")
    assert "Category: Urban construction › Street lights" in texts(summary)
