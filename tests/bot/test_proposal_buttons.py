"""The buttons under a proposal (Support, Read, Follow) when something is off: a stale button,
the portal unreachable, the portal refusing — offline, with the fake portal."""

from __future__ import annotations

from typing import Any

import pytest

from bot.gateway import InvalidRequest
from tests.bot.conftest import Resident, texts
from tests.bot.fakes import FakePortal

BUTTONS = ("p:s", "p:d", "p:f")


@pytest.mark.parametrize("button", BUTTONS)
async def test_a_stale_button_is_an_alert_and_asks_nothing(
    resident: Resident, portal: FakePortal, button: str
) -> None:
    for data in (f"{button}:notanumber", f"{button}:0", f"{button}:{2**31}", button):
        calls = await resident.press(data)
        [alert] = [c for c in calls if c.method == "answerCallbackQuery"]
        assert alert.params.get("show_alert") is True
        assert texts(calls) == "This button is no longer active. Press /start to see the menu."
    assert portal.calls == []


@pytest.mark.parametrize("button", BUTTONS)
async def test_portal_unreachable_asks_to_press_again(
    resident: Resident, portal: FakePortal, button: str
) -> None:
    proposal = portal.add_proposal("增设公交站点", distance_m=None)
    portal.down = True
    calls = await resident.press(f"{button}:{proposal['id']}")
    assert texts(calls).strip() == (
        "I cannot reach the portal right now. Please press again in a minute."
    )


@pytest.mark.parametrize("button", BUTTONS)
async def test_a_missing_proposal_is_said_plainly(
    resident: Resident, portal: FakePortal, button: str
) -> None:
    portal.verified.add(resident.id)
    calls = await resident.press(f"{button}:99")
    assert texts(calls).strip() == "No such proposal."


async def test_only_support_adds_how_to_verify(resident: Resident, portal: FakePortal) -> None:
    """A refusal for want of verification tells how to verify on Support; Read and Follow pass
    the portal's message on as it is."""
    proposal = portal.add_proposal("增设公交站点", distance_m=None)
    refusal = "This needs the level “verified resident”."

    async def refuse(*args: Any) -> dict[str, Any]:
        raise InvalidRequest(refusal, code="verification_required", status=403)

    hint = "If you have a code from your community office, send /verify followed by the code."
    supported = await resident.press(f"p:s:{proposal['id']}")
    assert hint in texts(supported)
    portal.get_proposal = refuse  # type: ignore[method-assign]
    portal.follow_proposal = refuse  # type: ignore[method-assign]
    for button in ("p:d", "p:f"):
        calls = await resident.press(f"{button}:{proposal['id']}")
        assert texts(calls).strip() == refusal
