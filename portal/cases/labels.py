"""Resident-facing names of statuses, event types, kinds and priorities (translatable)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

STATUS_LABELS = {
    "triage": _l("Waiting for dispatch"),
    "assigned": _l("Sent to the department"),
    "accepted": _l("Being handled"),
    "resolved": _l("Resolved, waiting for the resident's rating"),
    "closed": _l("Closed"),
}

EVENT_LABELS = {
    "submit": _l("Submitted"),
    "dispatch": _l("Dispatched to a department"),
    "accept": _l("Accepted by the department"),
    "return": _l("Returned for re-dispatch"),
    "transfer": _l("Transferred to another department"),
    "resolve": _l("Resolved"),
    "reopen": _l("Reopened"),
    "close": _l("Closed"),
    "note": _l("Note"),
    "reply": _l("Reply from the department"),
    "contact": _l("The department contacted the resident"),
    "co_handle_requested": _l("Another department asked to help"),
    "co_handle_done": _l("A helping department finished its part"),
    "escalated": _l("Escalated"),
    "me_too": _l("Another resident reported the same problem"),
    "verdict": _l("The resident rated the outcome"),
    "attachment": _l("Photo added"),
    "recategorised": _l("Category corrected"),
}

KIND_LABELS = {
    "complaint": _l("Complaint"),
    "inquiry": _l("Question"),
    "proposal": _l("Proposal"),
    "praise": _l("Praise"),
}

PRIORITY_LABELS = {
    "emergency": _l("Emergency"),
    "urgent": _l("Urgent"),
    "normal": _l("Normal"),
}

URGENCY_LABELS = PRIORITY_LABELS


def status_label(status: str | None) -> str:
    return str(STATUS_LABELS.get(status or "", status or ""))


def event_label(event_type: str | None) -> str:
    return str(EVENT_LABELS.get(event_type or "", event_type or ""))


def kind_label(kind: str | None) -> str:
    return str(KIND_LABELS.get(kind or "", kind or ""))


def priority_label(priority: str | None) -> str:
    return str(PRIORITY_LABELS.get(priority or "", priority or ""))
