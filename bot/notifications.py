"""Telling residents what happened to their cases, and asking them to rate resolved ones.

:func:`poll_notifications` reads the portal's feed after a persisted cursor, sends each item to
the resident's chat (chat id = Telegram user id), remembers it as delivered, then acknowledges.
Delivery is at least once on the portal's side; the delivered-id memory (persisted with the bot
data) makes sure a resident never sees the same notification twice, even when an ack got lost.
"""

from __future__ import annotations

import contextlib
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import CallbackQueryHandler

from bot import cards
from bot.gateway import (
    ConflictError,
    InvalidRequest,
    PortalError,
    PortalNotification,
    PortalUnavailable,
)
from bot.i18n import DEFAULT_LOCALE, Translate, translator
from bot.runtime import BotApplication, Context, app_of, bot_memory, locale_of, resident_of, tr

log = logging.getLogger(__name__)

DELIVERED = "delivered_notifications"
UNACKED = "unacked_notifications"
CURSOR = "notification_cursor"
BATCH = 50


def verdict_keyboard(_: Translate, number: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(_("Yes, it is solved"), callback_data=f"v:{number}:y"),
                InlineKeyboardButton(_("No, not solved"), callback_data=f"v:{number}:n"),
            ]
        ]
    )


def satisfaction_keyboard(number: str, resolved: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("⭐" * n, callback_data=f"v:{number}:{resolved}:{n}")
                for n in range(1, 6)
            ]
        ]
    )


async def _deliver(application: BotApplication, note: PortalNotification) -> bool:
    """Send one notification; False when Telegram failed in a way worth retrying."""
    locale = DEFAULT_LOCALE
    if note.telegram_id in application.user_data:
        locale = str(application.user_data[note.telegram_id].get("locale") or DEFAULT_LOCALE)
    _ = translator(locale)
    markup = None
    if note.kind == "verdict_request" and note.tracking_number:
        markup = verdict_keyboard(_, note.tracking_number)
    try:
        await application.bot.send_message(
            note.telegram_id, cards.notification_text(_, note), reply_markup=markup
        )
    except (Forbidden, BadRequest) as error:
        # Blocked the bot or never opened a chat: it cannot be delivered, now or later.
        log.info("notification %s for %s not deliverable: %s", note.id, note.telegram_id, error)
    except TelegramError as error:
        log.warning("notification %s: Telegram failed (%s); will retry", note.id, error)
        return False
    return True


async def poll_notifications(application: BotApplication) -> int:
    """One round: fetch, send, remember, acknowledge. Returns how many were sent now."""
    delivered = bot_memory(application, DELIVERED)
    unacked: list[int] = application.bot_data.setdefault(UNACKED, [])
    cursor = str(application.bot_data.get(CURSOR) or "0")
    batch = await application.gateway.notifications(after=cursor, limit=BATCH)
    sent = 0
    advanced_to = cursor
    for note in batch.items:
        if note.id not in delivered:
            if not await _deliver(application, note):
                break
            delivered.add(note.id)
            sent += 1
        unacked.append(note.id)
        advanced_to = str(note.id)
    else:
        advanced_to = batch.next_cursor if batch.items else cursor
    application.bot_data[CURSOR] = advanced_to
    if unacked:
        try:
            await application.gateway.ack_notifications(sorted(set(unacked)))
        except PortalError as error:
            log.warning(
                "acknowledging %s notifications failed (%s); will retry", len(unacked), error
            )
        else:
            unacked.clear()
    return sent


async def verdict_button(update: Update, context: Context) -> None:
    """``v:<number>:<y|n>`` asks how satisfied; ``v:<number>:<y|n>:<1-5>`` posts the verdict."""
    query = update.callback_query
    assert query is not None and context.user_data is not None
    _ = tr(context, update)
    parts = (query.data or "").split(":")
    rated: dict[str, bool] = context.user_data.setdefault("rated", {})
    if (
        len(parts) not in (3, 4)
        or parts[2] not in ("y", "n")
        or (len(parts) == 4 and parts[3] not in "12345")
    ):
        await query.answer(
            _("This button is no longer active. Press /start to see the menu."), show_alert=True
        )
        return
    number = parts[1]
    if number in rated:
        await query.answer(
            _("You have already rated case %(number)s. Thank you!", number=number), show_alert=True
        )
        return
    assert update.effective_chat is not None
    if len(parts) == 3:
        await query.answer()
        with contextlib.suppress(BadRequest):  # already edited (a double tap)
            await query.edit_message_reply_markup(reply_markup=None)
        await update.effective_chat.send_message(
            _(
                "How satisfied are you with how case %(number)s was handled? (1 = not at all, 5 = very)",
                number=number,
            ),
            reply_markup=satisfaction_keyboard(number, parts[2]),
        )
        return
    resolved = parts[2] == "y"
    try:
        case = await app_of(context).gateway.post_verdict(
            resident_of(update, context), number, resolved=resolved, satisfaction=int(parts[3])
        )
    except PortalUnavailable:
        await query.answer(
            _("I cannot reach the portal right now. Please press again in a minute."),
            show_alert=True,
        )
        return
    except (ConflictError, InvalidRequest) as error:
        rated[number] = resolved
        await query.answer(error.message, show_alert=True)
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(reply_markup=None)
        return
    rated[number] = resolved
    await query.answer()
    thanks = (
        _("Thank you for your rating!")
        if resolved
        else _(
            "Thank you. I have told the department that the problem is not solved; they will look at it again."
        )
    )
    text = thanks + "\n\n" + cards.case_card(_, case, locale_of(context, update))
    try:
        await query.edit_message_text(text)
    except BadRequest:  # the message is gone or too old to edit
        await update.effective_chat.send_message(text)


def handlers() -> list[object]:
    return [CallbackQueryHandler(verdict_button, pattern=r"^v:")]
