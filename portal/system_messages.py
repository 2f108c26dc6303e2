"""Texts the portal writes itself into stored records (event notes, reasons, notifications): kept
as a message code with its parameters and translated when read, in the reader's language.

Writers put ``system_message(code, **args)`` under the key ``"message"`` of a case or proposal
event's ``data``, or of a notification's ``payload``::

    {"message": {"code": "proposal_archived", "args": {"date": "2026-11-30", "n": 1, "needed": 5}}}

and leave ``note`` to what a person typed (or ``None``). Readers ask :func:`event_note` or
:func:`payload_note`: the message in the current locale (``force_locale`` for someone else's),
else the stored note. Rows written before codes existed hold plain text in ``note`` and are shown
as stored; a code this version does not know falls back to the note too.

A message's wording may change in the catalogue: old rows follow. Its code and the names of its
parameters may not (add a new code instead), since stored rows name them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

log = logging.getLogger(__name__)

#: Key of the message in an event's ``data`` and in a notification's ``payload``.
KEY = "message"


def N_(msgid: str) -> str:
    """Mark a msgid for extraction (``pybabel extract -k N_``); translated when rendered."""
    return msgid


def _text(msgid: str) -> Callable[[Mapping[str, Any]], str]:
    """A message that is one msgid with %-placeholders filled from its arguments."""

    def render(args: Mapping[str, Any]) -> str:
        return _(msgid) % dict(args)  # "%" even without arguments: a missing one is an error

    return render


def _localized_name(ref: Any) -> str:
    """A stored ``{"name", "name_en"}`` snapshot (a department) in the reader's language."""
    if not isinstance(ref, Mapping):
        return str(ref or "")
    if str(get_locale()) == "en" and ref.get("name_en"):
        return str(ref["name_en"])
    return str(ref.get("name") or "")


def _outcome(args: Mapping[str, Any]) -> str:
    from portal.deliberation.lifecycle import outcome_label

    return outcome_label(args["outcome"])


def _routed(args: Mapping[str, Any]) -> str:
    return _(
        N_("Sent to %(department)s (case %(number)s)."),
        department=_localized_name(args["department"]),
        number=args["number"],
    )


def _answer_summary(args: Mapping[str, Any]) -> str:
    """A proposal case's resolution: the decision, the department's answer and its reasons (the
    department's words, masked when written)."""
    return "\n".join(
        (
            f"{_outcome(args)}: {args['answer']}",
            _(N_("Reasons: %(reasons)s"), reasons=args["reasons"]),
        )
    )


def _threshold(args: Mapping[str, Any]) -> str:
    return ngettext(
        "%(num)d resident supports this proposal.",
        "%(num)d residents support this proposal.",
        int(args["n"]),
    )


def _answered(args: Mapping[str, Any]) -> str:
    return f"{_outcome(args)}: {args['title']}"


#: code → how to render its arguments. Codes are stored: never rename or reuse one.
MESSAGES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    # proposals (portal.deliberation)
    "proposal_threshold_reached": _threshold,  # n
    "proposal_routed": _routed,  # department: {"name", "name_en"}, number
    "proposal_archived": _text(
        N_("The support window ended on %(date)s with %(n)d of the %(needed)d supports needed.")
    ),
    "proposal_hidden": _text(N_("Hidden by moderator.")),
    "proposal_restored": _text(N_("Restored by moderator.")),
    "proposal_outcome": _outcome,  # outcome: accepted | partly_accepted | rejected
    "proposal_answered": _answered,  # outcome, title (the follower's notice)
    "proposal_answer_summary": _answer_summary,  # outcome, answer, reasons (the case's resolution)
    # cases (portal.workbench, portal.hotspots)
    "case_duplicate": _text(N_("Duplicate of %(number)s.")),
    "case_opened_from_hotspot": _text(N_("Opened from hotspot alert #%(id)d.")),
}


def system_message(code: str, **args: Any) -> dict[str, Any]:
    """The stored form of message ``code`` with ``args`` (JSON values: numbers, strings, small
    dicts). Raises ValueError for an unknown code or arguments it cannot render."""
    render = MESSAGES.get(code)
    if render is None:
        raise ValueError(f"unknown system message {code!r}")
    message = {"code": code, "args": dict(args)}
    render(message["args"])  # fail at the writer, not at every later reader
    return message


def render_message(message: Any) -> str | None:
    """``message`` (a stored ``{"code", "args"}``) in the current locale; None when there is no
    message or this version cannot render it (unknown code, missing argument)."""
    if not isinstance(message, Mapping):
        return None
    render = MESSAGES.get(str(message.get("code")))
    if render is None:
        log.warning("unknown system message code %r", message.get("code"))
        return None
    args = message.get("args")
    try:
        return render(args if isinstance(args, Mapping) else {})
    except (KeyError, TypeError, ValueError):
        log.warning("system message %r cannot be rendered with its arguments", message.get("code"))
        return None


def message_of(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The stored message of an event's ``data`` or a notification's ``payload``, if any (for
    APIs that return the code and its arguments with the text)."""
    message = (data or {}).get(KEY)
    return dict(message) if isinstance(message, Mapping) and "code" in message else None


def event_note(event: Any) -> str | None:
    """What a case or proposal event says, in the reader's language: its system message, else
    its stored note (a person's words, or the text of a row written before codes)."""
    text = render_message((getattr(event, "data", None) or {}).get(KEY))
    return text if text is not None else event.note


def payload_note(payload: Mapping[str, Any] | None) -> str | None:
    """The same for a notification's payload (``message``, else ``note``)."""
    payload = payload or {}
    text = render_message(payload.get(KEY))
    return text if text is not None else payload.get("note")


__all__ = [
    "KEY",
    "MESSAGES",
    "event_note",
    "message_of",
    "payload_note",
    "render_message",
    "system_message",
]
