"""Plain-text cards the bot sends: a case, a preview, a draft summary, a notification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from bot.gateway import CaseView, PortalNotification
from bot.i18n import N_, Translate

#: China Standard Time (no daylight saving): due dates are shown as local dates.
CHINA_TIME = timezone(timedelta(hours=8))
MAX_QUOTE_CHARS = 300

# Same English msgids as the portal's labels, so one translation serves both.
STATUS_LABELS = {
    "triage": N_("Waiting for dispatch"),
    "assigned": N_("Sent to the department"),
    "accepted": N_("Being handled"),
    "resolved": N_("Resolved, waiting for the resident's rating"),
    "closed": N_("Closed"),
}
KIND_LABELS = {
    "complaint": N_("Complaint"),
    "inquiry": N_("Question"),
    "proposal": N_("Proposal"),
    "praise": N_("Praise"),
}
#: What happened, for notifications (the portal's event labels).
EVENT_LABELS = {
    "dispatch": N_("Dispatched to a department"),
    "accept": N_("Accepted by the department"),
    "return": N_("Returned for re-dispatch"),
    "transfer": N_("Transferred to another department"),
    "resolve": N_("Resolved"),
    "reopen": N_("Reopened"),
    "close": N_("Closed"),
    "escalated": N_("Escalated"),
    "contact": N_("The department contacted the resident"),
}
PRIORITY_LABELS = {"emergency": N_("Emergency"), "urgent": N_("Urgent"), "normal": N_("Normal")}


def status_label(_: Translate, status: str | None, fallback: str | None = None) -> str:
    if status in STATUS_LABELS:
        return _(STATUS_LABELS[status])
    return fallback or status or "?"


def kind_label(_: Translate, kind: str | None) -> str:
    return _(KIND_LABELS[kind]) if kind in KIND_LABELS else (kind or "?")


def catalogue_name(entry: dict[str, Any] | None, locale: str) -> str:
    """A group's or category's name in the resident's language (Chinese names are canonical)."""
    if not entry:
        return ""
    if locale == "en" and entry.get("name_en"):
        return str(entry["name_en"])
    return str(entry.get("name") or entry.get("code") or "")


def local_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value[:10]
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d")


def quote(text: str | None, limit: int = MAX_QUOTE_CHARS) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def case_card(_: Translate, case: CaseView, locale: str) -> str:
    """Status, department, due date and the latest public reply of one case."""
    lines = [_("Case %(number)s", number=case.get("tracking_number", "?"))]
    if case.get("title"):
        lines.append(quote(str(case["title"]), 120))
    lines.append(
        _(
            "Status: %(status)s",
            status=status_label(_, case.get("status"), case.get("status_label")),
        )
    )
    department = catalogue_name(case.get("department"), locale)
    lines.append(_("Department: %(name)s", name=department or _("not assigned yet")))
    due = local_date(case.get("due_at"))
    if due and case.get("status") not in ("resolved", "closed"):
        overdue = case.get("overdue")
        lines.append(
            _("Due by %(date)s (overdue)", date=due) if overdue else _("Due by %(date)s", date=due)
        )
    if case.get("latest_reply"):
        lines.append(_("Latest reply: %(reply)s", reply=quote(str(case["latest_reply"]))))
    if case.get("url"):
        lines.append(str(case["url"]))
    return "\n".join(lines)


def preview_card(_: Translate, preview: dict[str, Any], draft: dict[str, Any], locale: str) -> str:
    """What the portal understood from the resident's words, and similar open cases."""
    lines = [_("This is what I understood:")]
    lines.append(_("Type: %(kind)s", kind=kind_label(_, draft.get("kind") or preview.get("kind"))))
    if draft.get("category_name"):
        lines.append(_("Category: %(name)s (your choice)", name=draft["category_name"]))
    else:
        group = catalogue_name(preview.get("group"), locale)
        category = catalogue_name(preview.get("category"), locale)
        named = " › ".join(n for n in (group, category) if n)
        lines.append(_("Category: %(name)s", name=named or _("not sure yet; staff will decide")))
        department = catalogue_name(preview.get("department"), locale)
        if department:
            lines.append(_("It will go to: %(name)s", name=department))
    priority = preview.get("priority")
    if priority in ("urgent", "emergency"):
        lines.append(_("Priority: %(priority)s", priority=_(PRIORITY_LABELS[priority])))
    similar = preview.get("similar") or []
    if similar:
        lines.append("")
        lines.append(_("Residents have already reported similar problems:"))
        for index, item in enumerate(similar[:3], start=1):
            lines.append(
                f"{index}. {item.get('tracking_number')} — {quote(str(item.get('title') or ''), 80)}"
                f" ({status_label(_, item.get('status'))})"
            )
        lines.append(
            _(
                "If one of them is your problem, press “Same problem” to follow it; otherwise continue."
            )
        )
    else:
        lines.append("")
        lines.append(_("Is this right? Continue, or choose another category."))
    return "\n".join(lines)


def summary_card(_: Translate, draft: dict[str, Any], locale: str) -> str:
    lines = [_("Please check your report before I send it:"), "", quote(draft_text(draft), 600), ""]
    lines.append(
        _("Type: %(kind)s", kind=kind_label(_, draft.get("kind") or draft.get("predicted_kind")))
    )
    preview = draft.get("preview") or {}
    predicted = " › ".join(
        n
        for n in (
            catalogue_name(preview.get("group"), locale),
            catalogue_name(preview.get("category"), locale),
        )
        if n
    )
    if draft.get("category_name") or predicted:
        lines.append(_("Category: %(name)s", name=draft.get("category_name") or predicted))
    if draft.get("lat") is not None:
        lines.append(_("Place: the location you shared"))
    elif draft.get("address"):
        lines.append(_("Place: %(address)s", address=quote(draft["address"], 100)))
    else:
        lines.append(_("Place: not given"))
    lines.append(_("Photos: %(n)s", n=len(draft.get("photos") or [])))
    lines.append(
        _("Phone: shared with the department only")
        if draft.get("phone")
        else _("Phone: not shared")
    )
    lines.append(_("Your name is not shown publicly; personal details in the text are masked."))
    return "\n".join(lines)


def draft_text(draft: dict[str, Any]) -> str:
    return "\n".join(draft.get("texts") or [])


def notification_text(_: Translate, note: PortalNotification) -> str:
    number = note.tracking_number or "?"
    if note.kind == "reply":
        lines = [
            _("The department replied about your case %(number)s:", number=number),
            quote(note.note, 1000),
        ]
    elif note.kind == "verdict_request":
        lines = [
            _("Your case %(number)s has been marked as resolved.", number=number),
            _("Is the problem really solved? Your answer helps us check the department's work."),
        ]
        if note.note:
            lines.insert(1, _("Department's note: %(note)s", note=quote(note.note, 600)))
    elif note.tracking_number is None:  # news not about one case (e.g. a proposal you follow)
        lines = (
            [_("News from the portal:"), quote(note.note, 1000)]
            if note.note
            else [_("News from the portal.")]
        )
    else:
        lines = [
            _(
                "Update on your case %(number)s: %(status)s",
                number=number,
                status=status_label(_, note.status),
            )
        ]
        if note.event in EVENT_LABELS:
            lines.append(_(EVENT_LABELS[note.event]))
        if note.note:
            lines.append(quote(note.note, 600))
    if note.url:
        lines.append(note.url)
    return "\n".join(lines)
