"""Sending a confirmed draft to the portal, and drafts saved while the portal was down.

The draft's id makes the ``Idempotency-Key``, so a double tap, a retry or a restart never makes
two cases. Saved drafts wait in ``bot_data["pending"]`` (persisted) and :func:`deliver_pending`
retries them with exponential backoff.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram.error import TelegramError
from telegram.ext import Application

from bot import cards
from bot.gateway import CaseSubmission, CaseView, Photo, PortalError, PortalUnavailable, Resident
from bot.i18n import Translate, translator
from bot.runtime import BotApplication

log = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 30.0
RETRY_MAX_SECONDS = 1800.0


def idempotency_key(telegram_id: int, draft: dict[str, Any]) -> str:
    return f"telegram-{telegram_id}-{draft['id']}"


async def build_submission(application: Application, draft: dict[str, Any]) -> CaseSubmission:  # type: ignore[type-arg]
    """The payload for ``POST /api/v1/cases``; photos are downloaded from Telegram now."""
    photos = []
    for index, file_id in enumerate(draft.get("photos") or [], start=1):
        try:
            telegram_file = await application.bot.get_file(file_id)
            data = bytes(await telegram_file.download_as_bytearray())
        except TelegramError:
            log.warning("could not download photo %s of draft %s", index, draft["id"])
            continue
        photos.append(Photo(filename=f"photo-{index}.jpg", content_type="image/jpeg", data=data))
    return CaseSubmission(
        text=cards.draft_text(draft),
        kind=draft.get("kind"),
        category_code=draft.get("category_code"),
        address=draft.get("address"),
        lat=draft.get("lat"),
        lon=draft.get("lon"),
        photos=photos,
        contact_name=draft.get("contact_name") if draft.get("phone") else None,
        contact_phone=draft.get("phone"),
        consent=bool(draft.get("phone")),
    )


def submitted_text(_: Translate, case: CaseView) -> str:
    number = case.get("tracking_number", "?")
    lines = [
        _("Thank you! Your report is registered as %(number)s.", number=number),
        _("Keep this number to ask about it (/status %(number)s).", number=number),
        _("I will tell you here when something changes."),
    ]
    if case.get("url"):
        lines.append(_("Public page: %(url)s", url=case["url"]))
    return "\n".join(lines)


def remember_submitted(user_data: dict[str, Any], draft_id: str, number: str) -> None:
    submitted = user_data.setdefault("submitted", {})
    submitted[draft_id] = number
    while len(submitted) > 50:
        submitted.pop(next(iter(submitted)))


def queue_pending(application: BotApplication, resident: Resident, draft: dict[str, Any]) -> None:
    pending = application.bot_data.setdefault("pending", {})
    pending[draft["id"]] = {
        "telegram_id": resident.telegram_id,
        "name": resident.name,
        "locale": resident.locale,
        "draft": draft,
        "attempts": 1,
        "next_at": application.clock() + RETRY_BASE_SECONDS,
    }


async def deliver_pending(application: BotApplication) -> int:
    """Try each saved draft whose time has come; returns how many were submitted now."""
    pending: dict[str, dict[str, Any]] = application.bot_data.setdefault("pending", {})
    sent = 0
    for draft_id, entry in list(pending.items()):
        if entry["next_at"] > application.clock():
            continue
        resident = Resident(
            entry["telegram_id"], entry.get("name") or "", entry.get("locale") or "zh_Hans_CN"
        )
        draft = entry["draft"]
        _ = translator(resident.locale)
        try:
            submission = await build_submission(application, draft)
            case = await application.gateway.submit_case(
                resident, submission, idempotency_key=idempotency_key(resident.telegram_id, draft)
            )
        except PortalUnavailable as error:
            entry["attempts"] += 1
            delay = min(RETRY_BASE_SECONDS * 2 ** (entry["attempts"] - 1), RETRY_MAX_SECONDS)
            entry["next_at"] = application.clock() + max(delay, error.retry_after or 0)
            continue
        except PortalError as error:
            pending.pop(draft_id, None)
            await _notify(
                application,
                resident.telegram_id,
                _("Your saved report could not be accepted: %(reason)s", reason=error.message)
                + "\n"
                + _("Here is your text, so you can send it again with “Report a problem”:")
                + "\n\n"
                + cards.quote(cards.draft_text(draft), 3500),
            )
            continue
        pending.pop(draft_id, None)
        remember_submitted(
            application.user_data[resident.telegram_id], draft_id, str(case.get("tracking_number"))
        )
        await _notify(
            application,
            resident.telegram_id,
            _("The portal is back.") + "\n" + submitted_text(_, case),
        )
        sent += 1
    return sent


async def _notify(application: Application, chat_id: int, text: str) -> None:  # type: ignore[type-arg]
    try:
        await application.bot.send_message(chat_id, text)
    except TelegramError:
        log.warning("could not tell %s about a saved report", chat_id)
