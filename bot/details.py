"""The report's details after the description: the place, photos, a phone number (with the
resident's consent) and the summary to confirm."""

from __future__ import annotations

from typing import Any

from telegram import (
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)

from bot import cards
from bot.drafts import (
    CONFIRM,
    DESCRIBE,
    LOCATION,
    MAX_ADDRESS_CHARS,
    MAX_PHOTOS,
    PHONE,
    PHOTOS,
    SUMMARY,
    button,
    current_draft,
    describing_buttons,
    remember_preview,
    show_preview,
)
from bot.gateway import PortalError
from bot.i18n import N_, Translate
from bot.menu import CANCEL, NEXT, NO_PHONE, SHARE_LOCATION, SHARE_PHONE, SKIP
from bot.phone import confirm_own_phone, confirmed_text, is_own_contact
from bot.runtime import Context, app_of, hint, locale_of, resident_of, tr


def location_keyboard(_: Translate) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [[KeyboardButton(_(SHARE_LOCATION), request_location=True)], [KeyboardButton(_(SKIP))]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


async def ask_location(update: Update, context: Context) -> str:
    assert update.effective_chat is not None
    _ = tr(context, update)
    draft = current_draft(context)
    if draft is not None and draft.get("lat") is not None:
        return await ask_photos(update, context)
    keyboard = location_keyboard(_)
    await update.effective_chat.send_message(
        _(
            "Where is it? Press “Share my location” (best when you are there), type the address "
            "(street, building, a landmark), or press “Skip”."
        ),
        reply_markup=keyboard,
    )
    return LOCATION


async def location_received(update: Update, context: Context) -> str:
    message = update.effective_message
    draft = current_draft(context)
    assert message is not None and message.location is not None and draft is not None
    draft["lat"], draft["lon"] = message.location.latitude, message.location.longitude
    draft.pop("address", None)
    _ = tr(context, update)
    await message.reply_text(_("Location received."))
    if await nearby_reports(update, context, draft):
        return CONFIRM
    return await ask_photos(update, context)


async def nearby_reports(update: Update, context: Context, draft: dict[str, Any]) -> bool:
    """With the place known, ask again for similar open cases; show any not shown before."""
    if not draft["texts"]:
        return False
    shown = {s.get("tracking_number") for s in (draft.get("preview") or {}).get("similar") or []}
    try:
        preview = await app_of(context).gateway.preview(
            resident_of(update, context),
            text=cards.draft_text(draft),
            lat=draft.get("lat"),
            lon=draft.get("lon"),
        )
    except PortalError:  # unreachable or refused: the report simply goes on
        return False
    similar = preview.get("similar") or []
    if not [s for s in similar if s.get("tracking_number") not in shown]:
        return False
    remember_preview(draft, preview)
    await show_preview(update, context, draft)
    return True


async def address_received(update: Update, context: Context) -> str:
    message = update.effective_message
    draft = current_draft(context)
    assert message is not None and draft is not None
    _ = tr(context, update)
    address = (message.text or "").strip()
    if len(address) > MAX_ADDRESS_CHARS:
        await message.reply_text(
            _(
                "That address is too long (at most %(n)s characters). Please shorten it.",
                n=MAX_ADDRESS_CHARS,
            )
        )
        return LOCATION
    draft["address"] = address
    await message.reply_text(_("Address noted: %(address)s", address=address))
    return await ask_photos(update, context)


async def skip_location(update: Update, context: Context) -> str:
    return await ask_photos(update, context)


location_hint = hint(
    N_("Please share a location with the button below, type the address, or press “Skip”.")
)


async def ask_photos(update: Update, context: Context) -> str:
    assert update.effective_chat is not None
    draft = current_draft(context)
    _ = tr(context, update)
    if draft is not None and len(draft["photos"]) >= MAX_PHOTOS:
        return await ask_phone(update, context)
    await update.effective_chat.send_message(
        _("Photos help the department. Send up to %(n)s photos, or press “Next”.", n=MAX_PHOTOS),
        reply_markup=ReplyKeyboardMarkup(
            [[KeyboardButton(_(NEXT))]], resize_keyboard=True, one_time_keyboard=True
        ),
    )
    return PHOTOS


async def add_photo(update: Update, context: Context, *, then: str) -> str:
    message = update.effective_message
    draft = current_draft(context)
    assert message is not None and draft is not None
    _ = tr(context, update)
    if len(draft["photos"]) >= MAX_PHOTOS:
        await message.reply_text(
            _("I can send at most %(n)s photos; this one was left out.", n=MAX_PHOTOS)
        )
        return then
    largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
    draft["photos"].append(largest.file_id)
    count = len(draft["photos"])
    if then == PHOTOS and count >= MAX_PHOTOS:
        await message.reply_text(_("Photo %(count)s of %(n)s received.", count=count, n=MAX_PHOTOS))
        return await ask_phone(update, context)
    if then == DESCRIBE:
        await message.reply_text(
            _("Photo %(count)s of %(n)s received.", count=count, n=MAX_PHOTOS),
            reply_markup=describing_buttons(_, draft),
        )
    else:
        await message.reply_text(
            _(
                "Photo %(count)s of %(n)s received. Send another, or press “Next”.",
                count=count,
                n=MAX_PHOTOS,
            )
        )
    return then


async def photo_received(update: Update, context: Context) -> str:
    return await add_photo(update, context, then=PHOTOS)


async def photos_done(update: Update, context: Context) -> str:
    return await ask_phone(update, context)


photos_hint = hint(N_("Please send photos as photos (not as files), or press “Next”."))


async def ask_phone(update: Update, context: Context) -> str:
    assert update.effective_chat is not None
    _ = tr(context, update)
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton(_(SHARE_PHONE), request_contact=True)], [KeyboardButton(_(NO_PHONE))]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    await update.effective_chat.send_message(
        _(
            "May the department call you if they need details? If you share your phone number, "
            "only the staff handling this case will see it; it is never published. It also "
            "confirms your account's phone number (Telegram has verified it), which lets you "
            "take part in proposals. Press “Share my phone number” to agree, or “No phone number”."
        ),
        reply_markup=keyboard,
    )
    return PHONE


async def contact_received(update: Update, context: Context) -> str:
    message = update.effective_message
    draft = current_draft(context)
    assert message is not None and message.contact is not None and draft is not None
    assert update.effective_user is not None
    _ = tr(context, update)
    contact = message.contact
    if not is_own_contact(update, contact):  # someone else's card: never their number
        await message.reply_text(_("Please use the button below to share your own phone number."))
        return PHONE
    draft["phone"] = contact.phone_number
    draft["contact_name"] = (
        " ".join(n for n in (contact.first_name, contact.last_name) if n)[:100] or None
    )
    text = _("Thank you. Only the staff handling this case will see your number.")
    try:
        confirmed = await confirm_own_phone(update, context, contact)
    except PortalError:  # unreachable or refused: the report goes on, the number is in the draft
        confirmed = {}
    if confirmed.get("changed"):
        text += "\n" + confirmed_text(_, confirmed)
    await message.reply_text(text, reply_markup=ReplyKeyboardRemove())
    return await show_summary(update, context)


async def no_phone(update: Update, context: Context) -> str:
    assert update.effective_message is not None
    draft = current_draft(context)
    assert draft is not None
    draft.pop("phone", None)
    draft.pop("contact_name", None)
    _ = tr(context, update)
    await update.effective_message.reply_text(
        _("Fine, no phone number."), reply_markup=ReplyKeyboardRemove()
    )
    return await show_summary(update, context)


phone_hint = hint(
    N_("Please press “Share my phone number” below (so I know you agree), or “No phone number”.")
)


async def show_summary(update: Update, context: Context) -> str:
    assert update.effective_chat is not None
    draft = current_draft(context)
    assert draft is not None
    _ = tr(context, update)
    await update.effective_chat.send_message(
        cards.summary_card(_, draft, locale_of(context, update)),
        reply_markup=InlineKeyboardMarkup(
            [[button(_("Send it"), draft, "send")], [button(_(CANCEL), draft, "cancel")]]
        ),
    )
    return SUMMARY


summary_hint = hint(
    N_("Press “Send it” under the summary to send your report, or /cancel to stop.")
)
