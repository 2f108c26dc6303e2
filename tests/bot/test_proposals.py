"""Proposals nearby: browse, support, comment with a stance, /verify — offline."""

from __future__ import annotations

from tests.bot.conftest import Resident, texts
from tests.bot.fakes import FakePortal


async def test_browse_near_a_location_and_page(resident: Resident, portal: FakePortal) -> None:
    for n in range(7):
        portal.add_proposal(f"建议{n}：增设公交站点", distance_m=100.0 * (n + 1))
    portal.add_proposal("远处的建议", distance_m=None)  # has no place: not listed near you
    asked = await resident.say("Proposals nearby")
    assert "Share your location to see proposals near you" in texts(asked)
    assert asked[-1].keyboard["keyboard"][0][0]["request_location"] is True
    listed = await resident.location(28.222, 112.860)
    assert "Proposals near you:" in texts(listed)
    page = listed[-1]
    assert page.text.startswith(
        "1. 建议0：增设公交站点\n   0 of 50 supporters · 100 m away · Open for support\n   http://portal.test/proposals/1"
    )
    assert "5. 建议4" in page.text and "建议5" not in page.text
    assert [label for label, _ in page.buttons][:2] == ["Support 1", "Comment on 1"]
    more = await resident.press(resident.button("More"))
    assert "6. 建议5" in texts(more) and "7. 建议6" in texts(more) and "远处" not in texts(more)
    assert portal.calls.count("proposals") == 2


async def test_all_proposals_and_none(resident: Resident, portal: FakePortal) -> None:
    await resident.say("/proposals")
    empty = await resident.say("All proposals")
    assert "There are no open proposals yet." in texts(empty)
    portal.add_proposal("在小区门口装减速带", distance_m=None)
    await resident.say("附近的建议")
    listed = await resident.say("All proposals")
    assert "Proposals open for support:" in texts(listed) and "在小区门口装减速带" in texts(listed)


async def test_support_needs_verification_then_counts(
    resident: Resident, portal: FakePortal
) -> None:
    proposal = portal.add_proposal("增设公交站点", distance_m=None, threshold=2)
    refused = await resident.press(f"p:s:{proposal['id']}")
    assert "verified resident" in texts(refused) and "send /verify followed by the code" in texts(
        refused
    )
    bad = await resident.say("/verify WRONG")
    assert "This code is not valid" in texts(bad)
    how = await resident.say("/verify")
    assert "Send /verify followed by the code" in texts(how)
    verified = await resident.say("/verify QS-1234")
    assert "your account is now “verified resident”" in texts(verified)
    supported = await resident.press(f"p:s:{proposal['id']}")
    assert "Thank you for supporting “增设公交站点”: 1 of 2 supporters." in texts(supported)
    assert portal.supporters[proposal["id"]] == {resident.id}


async def test_comment_with_a_stance(resident: Resident, portal: FakePortal) -> None:
    proposal = portal.add_proposal("增设公交站点", distance_m=None)
    portal.verified.add(resident.id)
    asked = await resident.press(f"p:c:{proposal['id']}")
    assert "Are you for or against this proposal?" in texts(asked)
    assert [label for label, _ in asked[-1].buttons] == ["For", "Neutral", "Against"]
    write = await resident.press(resident.button("Against"))
    assert "Write your comment" in texts(write)
    hint = await resident.send(
        sticker={
            "file_id": "s",
            "file_unique_id": "su",
            "type": "regular",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
        }
    )
    assert "Please write your comment as text" in texts(hint)
    done = await resident.say("站点离小学太近，早高峰会更堵。")
    assert "your comment is published" in texts(done)
    assert portal.comments == [
        (proposal["id"], resident.id, "against", "站点离小学太近，早高峰会更堵。")
    ]
    await resident.press(f"p:c:{proposal['id']}")
    await resident.press(resident.button("For"))
    moderated = await resident.say("详见 http://example.org")
    assert "after a moderator has looked at it" in texts(moderated)


async def test_comment_can_be_cancelled_and_old_buttons_are_stale(
    resident: Resident, portal: FakePortal
) -> None:
    proposal = portal.add_proposal("增设公交站点", distance_m=None)
    await resident.press(f"p:c:{proposal['id']}")
    await resident.press(resident.button("For"))
    left = await resident.say("/cancel")
    assert texts(left) == "OK."
    assert portal.comments == []
    stale = await resident.press(f"p:st:{proposal['id']}:for")
    assert "no longer active" in texts(stale)
    broken = await resident.press("p:s:notanumber")
    assert "no longer active" in texts(broken)
