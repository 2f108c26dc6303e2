"""The registry of system messages: every code renders in both languages from its stored
arguments, writers cannot store a code or arguments readers could not render, and readers fall
back to the stored note for anything they cannot render."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from flask_babel import force_locale

from portal.system_messages import (
    MESSAGES,
    event_note,
    payload_note,
    render_message,
    system_message,
)

#: Arguments as the writers store them, one example per code.
EXAMPLES: dict[str, dict[str, Any]] = {
    "proposal_threshold_reached": {"n": 30},
    "proposal_routed": {
        "department": {"code": "transport", "name": "区交通运输局", "name_en": "Transport Bureau"},
        "number": "LJ-2611-0042-7",
    },
    "proposal_archived": {"date": "2026-11-30", "n": 1, "needed": 5},
    "proposal_hidden": {},
    "proposal_restored": {},
    "proposal_outcome": {"outcome": "rejected"},
    "proposal_answered": {"outcome": "accepted", "title": "增设公交站"},
    "proposal_answer_summary": {
        "outcome": "partly_accepted",
        "answer": "同意增设临时停靠站。",
        "reasons": "路宽不足。",
    },
    "case_duplicate": {"number": "LJ-2611-0042-7"},
    "case_opened_from_hotspot": {"id": 12},
}


def test_every_code_has_an_example() -> None:
    assert set(EXAMPLES) == set(MESSAGES)


@pytest.mark.parametrize("code", sorted(EXAMPLES))
def test_every_code_renders_in_both_languages(app: Any, code: str) -> None:
    message = system_message(code, **EXAMPLES[code])
    with force_locale("zh_Hans_CN"):
        zh = render_message(message)
    with force_locale("en"):
        en = render_message(message)
    assert zh and en and zh != en, (zh, en)


def test_writers_cannot_store_what_readers_cannot_render(app: Any) -> None:
    with pytest.raises(ValueError):
        system_message("no_such_code")
    with pytest.raises(KeyError):
        system_message("case_duplicate")  # its tracking number is missing
    with pytest.raises(TypeError):
        system_message("proposal_archived", date="2026-11-30", n="one", needed=5)


def test_readers_fall_back_to_the_stored_note(app: Any) -> None:
    old = SimpleNamespace(note="旧的说明", data={})
    unknown = SimpleNamespace(note="旧的说明", data={"message": {"code": "later", "args": {}}})
    broken = SimpleNamespace(note=None, data={"message": {"code": "case_duplicate", "args": {}}})
    assert event_note(old) == "旧的说明" and event_note(unknown) == "旧的说明"
    assert event_note(broken) is None
    assert event_note(SimpleNamespace(note="x", data=None)) == "x"
    assert payload_note({"note": "标题"}) == "标题"
    assert payload_note({"note": "标题", "message": "not a message"}) == "标题"
    with force_locale("en"):
        assert (
            payload_note({"note": "标题", "message": {"code": "proposal_hidden", "args": {}}})
            == "Hidden by moderator."
        )
