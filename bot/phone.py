"""Phone confirmation (level 1): a resident shares their OWN contact card and the portal records
the number Telegram verified for them. A card whose ``user_id`` is not the sender's own is
someone else's number and never counts.

Reached from ``/verify`` (without a code: the bot offers the contact button) and from the report
flow, which asks for the number anyway (:mod:`bot.details` calls :func:`confirm_own_phone`).
"""

from __future__ import annotations

from typing import Any

from telegram import Contact, KeyboardButton, ReplyKeyboardMarkup, Update
from telegram.ext import MessageHandler, filters

from bot.gateway import PortalError, PortalUnavailable
from bot.i18n import N_, Translate
from bot.menu import NO_PHONE, SHARE_PHONE, LabelFilter, main_menu_keyboard
from bot.runtime import Context, app_of, resident_of, tr

NOT_OWN_CONTACT = N_(
    "That is someone else's contact card. Only your own phone number confirms your account: "
    "press “Share my phone number” below (Telegram sends your own number with it)."
)


def is_own_contact(update: Update, contact: Contact) -> bool:
    """Telegram puts the card owner's user id on a contact: the sender's own id means the number
    is the one Telegram verified for this very account."""
    user = update.effective_user
    return user is not None and contact.user_id is not None and contact.user_id == user.id


def share_phone_keyboard(_: Translate) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [[KeyboardButton(_(SHARE_PHONE), request_contact=True)], [KeyboardButton(_(NO_PHONE))]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


async def confirm_own_phone(update: Update, context: Context, contact: Contact) -> dict[str, Any]:
    """Ask the portal to record the resident's own number (raises PortalError/-Unavailable)."""
    assert is_own_contact(update, contact)
    return await app_of(context).gateway.confirm_phone(
        resident_of(update, context),
        phone_number=contact.phone_number,
        contact_user_id=int(contact.user_id or 0),
    )


def confirmed_text(_: Translate, result: dict[str, Any]) -> str:
    label = str(result.get("label") or "")
    if result.get("changed"):
        return _(
            "Thank you: your phone number is confirmed and your account is now “%(level)s”.",
            level=label,
        )
    return _("Your phone number was already confirmed; your account is “%(level)s”.", level=label)


async def ask_for_contact(update: Update, context: Context) -> None:
    """``/verify`` without a code: offer the contact button (and say where codes come from)."""
    assert update.effective_message is not None
    _ = tr(context, update)
    await update.effective_message.reply_text(
        _(
            "To confirm your phone number, press “Share my phone number” below: Telegram has "
            "already confirmed it, so your account becomes “phone confirmed” at once. "
            "Send /verify followed by the code you got from your community office to become "
            "a verified resident."
        ),
        reply_markup=share_phone_keyboard(_),
    )


async def contact_shared(update: Update, context: Context) -> None:
    """A contact card outside the report flow: confirm the phone if it is the sender's own."""
    message = update.effective_message
    assert message is not None and message.contact is not None
    _ = tr(context, update)
    if not is_own_contact(update, message.contact):
        await message.reply_text(_(NOT_OWN_CONTACT), reply_markup=share_phone_keyboard(_))
        return
    try:
        result = await confirm_own_phone(update, context, message.contact)
    except PortalUnavailable:
        text = _("I cannot reach the portal right now. Please try again in a minute.")
    except PortalError as error:
        text = error.message
    else:
        text = confirmed_text(_, result)
    await message.reply_text(text, reply_markup=main_menu_keyboard(_))


async def not_now(update: Update, context: Context) -> None:
    """“No phone number” pressed under the /verify offer: back to the menu."""
    assert update.effective_message is not None
    _ = tr(context, update)
    await update.effective_message.reply_text(_("OK."), reply_markup=main_menu_keyboard(_))


def handlers() -> list[object]:
    """Outside the conversations (the report flow handles the cards it asked for itself)."""
    return [
        MessageHandler(filters.CONTACT, contact_shared),
        MessageHandler(LabelFilter(NO_PHONE), not_now),
    ]
