"""The resident's draft report: its shape, its inline buttons, and showing what the portal understood.

A draft is a plain dict in ``context.user_data["draft"]`` (picklable, so it survives restarts
with a state file): ``id`` (the idempotency key's root), ``kind``, ``texts``, ``photos`` (Telegram
file ids), and, as the resident goes on, ``preview``, ``category_code``/``category_name``,
``lat``/``lon`` or ``address``, ``phone``/``contact_name``.
"""

from __future__ import annotations

import uuid
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot import cards
from bot.i18n import Translate
from bot.menu import CANCEL
from bot.runtime import Context, locale_of, tr

#: The report conversation's states.
DESCRIBE, CONFIRM, LOCATION, PHOTOS, PHONE, SUMMARY = (
    "describe",
    "confirm",
    "location",
    "photos",
    "phone",
    "summary",
)
#: The portal's limit on a description (``nlp.MAX_TEXT_CHARS``).
MAX_DRAFT_CHARS = 5000
MAX_ADDRESS_CHARS = 200
MAX_PHOTOS = 3


def new_draft(kind: str | None) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex[:12], "kind": kind, "texts": [], "photos": []}


def current_draft(context: Context) -> dict[str, Any] | None:
    assert context.user_data is not None
    draft = context.user_data.get("draft")
    return draft if isinstance(draft, dict) else None


def button(label: str, draft: dict[str, Any], action: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=f"r:{draft['id']}:{action}")


def describing_buttons(_: Translate, draft: dict[str, Any]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[button(_("Done"), draft, "done"), button(_(CANCEL), draft, "cancel")]]
    )


def draft_length(draft: dict[str, Any]) -> int:
    return len(cards.draft_text(draft))


async def show_preview(update: Update, context: Context, draft: dict[str, Any]) -> None:
    assert update.effective_chat is not None
    _ = tr(context, update)
    preview = draft.get("preview") or {}
    rows = []
    for item in (preview.get("similar") or [])[:3]:
        number = str(item.get("tracking_number"))
        rows.append([button(_("Same problem: %(number)s", number=number), draft, f"f:{number}")])
    proceed = _("Not the same, continue") if rows else _("Yes, continue")
    rows.append([button(proceed, draft, "ok")])
    rows.append([button(_("Choose another category"), draft, "pick")])
    await update.effective_chat.send_message(
        cards.preview_card(_, preview, draft, locale_of(context, update)),
        reply_markup=InlineKeyboardMarkup(rows),
    )


def remember_preview(draft: dict[str, Any], preview: dict[str, Any]) -> None:
    draft["preview"] = {
        key: preview.get(key)
        for key in ("kind", "group", "category", "department", "priority", "similar")
    }
    draft["predicted_kind"] = preview.get("kind")
