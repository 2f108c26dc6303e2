"""Reporting a problem or making a proposal: from the resident's first words to a tracking number.

This module holds the conversation (:func:`conversation`), the description, what the portal
understood, the category and "same problem" choices, and sending. The draft is
:mod:`bot.drafts`; place, photos, phone and summary are :mod:`bot.details`; keeping a draft
through a portal outage is :mod:`bot.submission`.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Any

from telegram import (
    InlineKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot import cards, lookup, menu
from bot.details import (
    add_photo,
    address_received,
    ask_location,
    contact_received,
    location_hint,
    location_keyboard,
    location_received,
    no_phone,
    phone_hint,
    photo_received,
    photos_done,
    photos_hint,
    show_summary,
    skip_location,
    summary_hint,
)
from bot.drafts import (
    CONFIRM,
    DESCRIBE,
    LOCATION,
    MAX_ADDRESS_CHARS,
    MAX_DRAFT_CHARS,
    PHONE,
    PHOTOS,
    SUMMARY,
    button,
    current_draft,
    describing_buttons,
    draft_length,
    new_draft,
    remember_preview,
    show_preview,
)
from bot.gateway import (
    AccessDenied,
    CaseNotFound,
    ConflictError,
    PortalError,
    PortalUnavailable,
)
from bot.i18n import N_
from bot.menu import (
    CANCEL,
    FREE_TEXT,
    MAIN_MENU,
    MENU_BUTTONS,
    NEXT,
    NO_PHONE,
    SKIP,
    STEP_BUTTONS,
    LabelFilter,
    main_menu_keyboard,
    menu_choice,
)
from bot.runtime import Context, app_of, hint, locale_of, resident_of, tr
from bot.submission import (
    build_submission,
    idempotency_key,
    queue_pending,
    remember_submitted,
    submitted_text,
)

log = logging.getLogger(__name__)

END = ConversationHandler.END
CATALOGUE_TTL = 600.0


# --- entry ----------------------------------------------------------------------------------


async def start_report(update: Update, context: Context) -> str:
    """Menu button "Report a problem" / "Make a proposal", or /report, /propose."""
    assert update.effective_message is not None and context.user_data is not None
    _ = tr(context, update)
    text = update.effective_message.text or ""
    proposal = menu_choice(text) == "proposal" or text.startswith("/propose")
    draft = new_draft("proposal" if proposal else None)
    context.user_data["draft"] = draft
    if proposal:
        prompt = _(
            "Describe your proposal: what should change, where, and why. "
            "You can send several messages; press “Done” when you have finished."
        )
    else:
        prompt = _(
            "Tell me what is wrong, in your own words: what, where, since when. "
            "You can send several messages and photos; press “Done” when you have finished."
        )
    await update.effective_message.reply_text(prompt, reply_markup=ReplyKeyboardRemove())
    return DESCRIBE


async def start_with_text(update: Update, context: Context) -> str:
    """A resident simply wrote something: that is the start of a report."""
    assert context.user_data is not None
    context.user_data["draft"] = new_draft(None)
    return await describe_text(update, context)


# --- describing -----------------------------------------------------------------------------


async def describe_text(update: Update, context: Context) -> str:
    message = update.effective_message
    draft = current_draft(context)
    assert message is not None and draft is not None
    _ = tr(context, update)
    text = (message.text or "").strip()
    used = draft_length(draft)
    if used + len(text) + 1 > MAX_DRAFT_CHARS:
        await message.reply_text(
            _(
                "That is too long: a report can have at most %(max)s characters, and this "
                "message has %(n)s. Please shorten it and send it again.",
                max=MAX_DRAFT_CHARS,
                n=len(text),
            )
        )
        return DESCRIBE
    draft["texts"].append(text)
    await message.reply_text(
        _("Noted. Add more if you like, or press “Done”."),
        reply_markup=describing_buttons(_, draft),
    )
    return DESCRIBE


async def describe_photo(update: Update, context: Context) -> str | None:
    """A photo while describing: keep it for the report."""
    return await add_photo(update, context, then=DESCRIBE)


async def describe_location(update: Update, context: Context) -> str:
    message = update.effective_message
    draft = current_draft(context)
    assert message is not None and message.location is not None and draft is not None
    _ = tr(context, update)
    draft["lat"], draft["lon"] = message.location.latitude, message.location.longitude
    await message.reply_text(
        _("Location received. Now describe the problem in a few words, then press “Done”."),
        reply_markup=describing_buttons(_, draft),
    )
    return DESCRIBE


async def unreadable(update: Update, context: Context) -> None:
    """Stickers, voice messages, files…: say so and stay where we are."""
    assert update.effective_message is not None
    _ = tr(context, update)
    await update.effective_message.reply_text(
        _(
            "Sorry, I cannot read stickers, voice messages or files. "
            "Please type your message; photos (sent as photos) are welcome."
        )
    )


async def done_describing(update: Update, context: Context) -> str:
    """ "Done": ask the portal what it understood."""
    draft = current_draft(context)
    assert draft is not None and update.effective_chat is not None
    _ = tr(context, update)
    if not draft["texts"]:
        await update.effective_chat.send_message(_("Please write at least a few words first."))
        return DESCRIBE
    gateway = app_of(context).gateway
    try:
        preview = await gateway.preview(
            resident_of(update, context),
            text=cards.draft_text(draft),
            lat=draft.get("lat"),
            lon=draft.get("lon"),
        )
    except PortalUnavailable:
        await update.effective_chat.send_message(
            _(
                "I cannot reach the portal right now to check your report. Your draft is safe: "
                "let us continue, and I will send it as soon as the portal is back."
            )
        )
        return await ask_location(update, context)
    except PortalError as error:
        if error.field == "text":
            await update.effective_chat.send_message(
                error.message + "\n" + _("Please add a few words and press “Done” again.")
            )
            return DESCRIBE
        raise
    remember_preview(draft, preview)
    await show_preview(update, context, draft)
    return CONFIRM


# --- confirming the category or following a similar case --------------------------------------


async def _catalogue(context: Context) -> list[dict[str, Any]]:
    application = app_of(context)
    cached = application.catalogue_cache
    now = application.clock()
    if cached is not None and now - cached[0] < CATALOGUE_TTL:
        return list(cached[1])
    groups = await application.gateway.catalogue(locale=locale_of(context))
    application.catalogue_cache = (now, groups)
    return groups


async def pick_group(update: Update, context: Context, draft: dict[str, Any]) -> str:
    assert update.effective_chat is not None
    _ = tr(context, update)
    locale = locale_of(context, update)
    groups = await _catalogue(context)
    rows = [[button(cards.catalogue_name(g, locale), draft, f"g:{g['code']}")] for g in groups]
    await update.effective_chat.send_message(
        _("Which area is it about?"), reply_markup=InlineKeyboardMarkup(rows)
    )
    return CONFIRM


async def pick_category(update: Update, context: Context, draft: dict[str, Any], code: str) -> str:
    assert update.effective_chat is not None
    _ = tr(context, update)
    locale = locale_of(context, update)
    group = next((g for g in await _catalogue(context) if g.get("code") == code), None)
    if group is None:
        return await pick_group(update, context, draft)
    rows = [
        [button(cards.catalogue_name(c, locale), draft, f"c:{c['code']}")]
        for c in group.get("categories") or []
    ]
    rows.append([button(_("Back"), draft, "pick")])
    await update.effective_chat.send_message(
        _("Which of these fits best?"), reply_markup=InlineKeyboardMarkup(rows)
    )
    return CONFIRM


async def set_category(update: Update, context: Context, draft: dict[str, Any], code: str) -> str:
    assert update.effective_chat is not None
    _ = tr(context, update)
    locale = locale_of(context, update)
    for group in await _catalogue(context):
        for category in group.get("categories") or []:
            if category.get("code") == code:
                draft["category_code"] = code
                draft["category_name"] = " › ".join(
                    (cards.catalogue_name(group, locale), cards.catalogue_name(category, locale))
                )
                await update.effective_chat.send_message(
                    _("Category set: %(name)s.", name=draft["category_name"])
                )
                return await ask_location(update, context)
    return await pick_group(update, context, draft)


async def follow_similar(
    update: Update, context: Context, draft: dict[str, Any], number: str
) -> Any:
    """ "Same problem": follow that case instead of opening a new one."""
    assert update.effective_chat is not None and context.user_data is not None
    _ = tr(context, update)
    try:
        case = await app_of(context).gateway.follow_case(resident_of(update, context), number)
    except CaseNotFound:
        await update.effective_chat.send_message(
            _(
                "That case can no longer be found. Press “Not the same, continue” to send your own report."
            )
        )
        return CONFIRM
    except PortalUnavailable:
        await update.effective_chat.send_message(
            _("I cannot reach the portal right now. Please press the button again in a minute.")
        )
        return CONFIRM
    context.user_data.pop("draft", None)
    await update.effective_chat.send_message(
        _(
            "Thank you! You now follow case %(number)s, and the department sees that one more "
            "resident has this problem. I will tell you when something changes. Your own draft "
            "was not sent.",
            number=case.get("tracking_number", number),
        )
        + "\n\n"
        + cards.case_card(_, case, locale_of(context, update)),
        reply_markup=main_menu_keyboard(_),
    )
    return END


# --- sending ---------------------------------------------------------------------------------


async def send_draft(update: Update, context: Context, draft: dict[str, Any]) -> Any:
    """ "Send it": submit once; on an outage keep the draft and retry later."""
    assert update.effective_chat is not None and update.effective_user is not None
    assert context.user_data is not None
    _ = tr(context, update)
    application = app_of(context)
    resident = resident_of(update, context)
    submission = await build_submission(application, draft)
    try:
        case = await application.gateway.submit_case(
            resident, submission, idempotency_key=idempotency_key(resident.telegram_id, draft)
        )
    except PortalUnavailable:
        queue_pending(application, resident, draft)
        context.user_data.pop("draft", None)
        await update.effective_chat.send_message(
            _(
                "I cannot reach the portal right now. Your report is saved and I will send it "
                "automatically as soon as the portal is back, then tell you its tracking number."
            ),
            reply_markup=main_menu_keyboard(_),
        )
        return END
    except ConflictError as error:  # the same submission is still being processed
        await update.effective_chat.send_message(
            error.message + "\n" + _("Please press “Send it” again in a moment.")
        )
        return await show_summary(update, context)
    except AccessDenied:
        raise
    except PortalError as error:
        return await _refused(update, context, draft, error)
    remember_submitted(context.user_data, draft["id"], str(case.get("tracking_number")))
    context.user_data.pop("draft", None)
    await update.effective_chat.send_message(
        submitted_text(_, case), reply_markup=main_menu_keyboard(_)
    )
    return END


async def _refused(
    update: Update, context: Context, draft: dict[str, Any], error: PortalError
) -> str:
    """The portal refused part of the report: go back to that step."""
    assert update.effective_chat is not None
    _ = tr(context, update)
    await update.effective_chat.send_message(error.message)
    if error.field == "location":
        draft.pop("lat", None)
        draft.pop("lon", None)
        await update.effective_chat.send_message(
            _("Please share another place, type the address, or press “Skip”."),
            reply_markup=location_keyboard(_),
        )
        draft["after_location"] = SUMMARY
        return LOCATION
    if error.field == "text":
        await update.effective_chat.send_message(
            _("Please add to your description and press “Done” again.")
        )
        draft.pop("preview", None)
        return DESCRIBE
    if error.field in ("contact_phone", "contact_name", "consent"):
        draft.pop("phone", None)
        draft.pop("contact_name", None)
        return await show_summary(update, context)
    return await show_summary(update, context)


# --- buttons, cancel, interruptions -----------------------------------------------------------


async def stale_button(update: Update, context: Context) -> None:
    """A button from an earlier step or conversation: say so; nothing else changes."""
    query = update.callback_query
    assert query is not None and context.user_data is not None
    _ = tr(context, update)
    parts = (query.data or "").split(":")
    if len(parts) >= 3 and parts[0] == "r" and parts[2] == "send":
        number = (context.user_data.get("submitted") or {}).get(parts[1])
        if number:
            await query.answer(
                _("Already sent: your report is %(number)s.", number=number), show_alert=True
            )
            return
    await query.answer(
        _("This button is no longer active. Press /start to see the menu."), show_alert=True
    )


def _report_buttons(actions: dict[str, Any]) -> CallbackQueryHandler:  # type: ignore[type-arg]
    """One state's inline buttons: ``r:<draft id>:<action>[:<arg>]``; others are stale."""

    async def on_button(update: Update, context: Context) -> Any:
        query = update.callback_query
        assert query is not None
        draft = current_draft(context)
        parts = (query.data or "").split(":", 3)
        action = parts[2] if len(parts) > 2 else ""
        if draft is None or len(parts) < 3 or parts[1] != draft["id"] or action not in actions:
            await stale_button(update, context)
            return None
        await query.answer()
        if action in ("send", "done"):
            with contextlib.suppress(TelegramError):  # single-use buttons: remove them
                await query.edit_message_reply_markup(reply_markup=None)
        arg = parts[3] if len(parts) > 3 else ""
        return await actions[action](update, context, draft, arg)

    return CallbackQueryHandler(on_button, pattern=r"^r:")


async def cancel(update: Update, context: Context) -> int:
    assert update.effective_chat is not None and context.user_data is not None
    _ = tr(context, update)
    if update.callback_query is not None:
        await update.callback_query.answer()
    context.user_data.pop("draft", None)
    await update.effective_chat.send_message(
        _("Cancelled. Nothing was sent."), reply_markup=main_menu_keyboard(_)
    )
    return END


async def in_the_middle(update: Update, context: Context) -> None:
    """/start or a menu button during a report: keep the draft, say how to go on."""
    assert update.effective_message is not None
    _ = tr(context, update)
    choice = menu_choice(update.effective_message.text)
    if choice == "mine":
        await lookup.my_cases(update, context)
        return
    if choice == "help":
        await update.effective_message.reply_text(menu.help_text(_))
        return
    await update.effective_message.reply_text(
        _(
            "You are in the middle of a report. Go on where you were, or send /cancel to stop "
            "(to check a case meanwhile, send /status and its number)."
        )
    )


def _after_location(step: Any) -> Any:
    """Location step handlers go on to photos, or back to the summary after a refused place."""

    async def wrapped(update: Update, context: Context) -> Any:
        draft = current_draft(context)
        if draft is not None and draft.pop("after_location", None) == SUMMARY:
            message = update.effective_message
            assert message is not None
            if message.location is not None:
                draft["lat"], draft["lon"] = message.location.latitude, message.location.longitude
                draft.pop("address", None)
            elif message.text and not LabelFilter(SKIP).filter(message):
                draft["address"] = message.text.strip()[:MAX_ADDRESS_CHARS]
            return await show_summary(update, context)
        return await step(update, context)

    return wrapped


def conversation(*, persistent: bool) -> ConversationHandler:  # type: ignore[type-arg]
    """The report conversation (also used for proposals)."""

    async def done(update: Update, context: Context, draft: dict[str, Any], arg: str) -> Any:
        return await done_describing(update, context)

    async def ok(update: Update, context: Context, draft: dict[str, Any], arg: str) -> Any:
        return await ask_location(update, context)

    async def pick(update: Update, context: Context, draft: dict[str, Any], arg: str) -> Any:
        return await pick_group(update, context, draft)

    async def group(update: Update, context: Context, draft: dict[str, Any], arg: str) -> Any:
        return await pick_category(update, context, draft, arg)

    async def category(update: Update, context: Context, draft: dict[str, Any], arg: str) -> Any:
        return await set_category(update, context, draft, arg)

    async def follow(update: Update, context: Context, draft: dict[str, Any], arg: str) -> Any:
        return await follow_similar(update, context, draft, arg)

    async def send(update: Update, context: Context, draft: dict[str, Any], arg: str) -> Any:
        return await send_draft(update, context, draft)

    async def cancel_button(
        update: Update, context: Context, draft: dict[str, Any], arg: str
    ) -> Any:
        return await cancel(update, context)

    entry_points = [
        MessageHandler(LabelFilter(MAIN_MENU["report"], MAIN_MENU["proposal"]), start_report),
        CommandHandler(["report", "propose"], start_report),
        MessageHandler(FREE_TEXT & ~lookup.TRACKING_NUMBER_TEXT, start_with_text),
    ]
    anything_but_text = ~filters.COMMAND & ~MENU_BUTTONS & ~filters.TEXT
    states = {
        DESCRIBE: [
            MessageHandler(FREE_TEXT, describe_text),
            MessageHandler(filters.PHOTO, describe_photo),
            MessageHandler(filters.LOCATION, describe_location),
            _report_buttons({"done": done, "cancel": cancel_button}),
            MessageHandler(anything_but_text, unreadable),
            MessageHandler(STEP_BUTTONS, _describe_hint),
        ],
        CONFIRM: [
            _report_buttons(
                {
                    "ok": ok,
                    "pick": pick,
                    "g": group,
                    "c": category,
                    "f": follow,
                    "cancel": cancel_button,
                }
            ),
            MessageHandler(~filters.COMMAND & ~MENU_BUTTONS, _confirm_hint),
        ],
        LOCATION: [
            MessageHandler(filters.LOCATION, _after_location(location_received)),
            MessageHandler(LabelFilter(SKIP), _after_location(skip_location)),
            MessageHandler(FREE_TEXT, _after_location(address_received)),
            _report_buttons({"cancel": cancel_button}),
            MessageHandler(~filters.COMMAND & ~MENU_BUTTONS, location_hint),
        ],
        PHOTOS: [
            MessageHandler(filters.PHOTO, photo_received),
            MessageHandler(LabelFilter(NEXT, SKIP), photos_done),
            _report_buttons({"cancel": cancel_button}),
            MessageHandler(~filters.COMMAND & ~MENU_BUTTONS, photos_hint),
        ],
        PHONE: [
            MessageHandler(filters.CONTACT, contact_received),
            MessageHandler(LabelFilter(NO_PHONE, SKIP), no_phone),
            _report_buttons({"cancel": cancel_button}),
            MessageHandler(~filters.COMMAND & ~MENU_BUTTONS, phone_hint),
        ],
        SUMMARY: [
            _report_buttons({"send": send, "cancel": cancel_button}),
            MessageHandler(~filters.COMMAND & ~MENU_BUTTONS, summary_hint),
        ],
    }
    fallbacks = [
        CommandHandler("cancel", cancel),
        MessageHandler(LabelFilter(CANCEL), cancel),
        CommandHandler("status", lookup.status_command),
        CommandHandler("mycases", lookup.my_cases),
        CommandHandler("help", _help_in_conversation),
        CommandHandler(["start", "report", "propose"], in_the_middle),
        MessageHandler(MENU_BUTTONS, in_the_middle),
        CallbackQueryHandler(stale_button, pattern=r"^r:"),
    ]
    with warnings.catch_warnings():
        # per_message=False is right here: buttons carry the draft id, checked in _report_buttons.
        warnings.filterwarnings("ignore", "If 'per_message=False'", PTBUserWarning)
        return ConversationHandler(
            entry_points=entry_points,
            states=states,
            fallbacks=fallbacks,
            name="report",
            persistent=persistent,
            allow_reentry=False,
        )


_describe_hint = hint(N_("Please describe the problem in your own words, then press “Done”."))


_confirm_hint = hint(
    N_(
        "Please answer with the buttons above: continue, choose another category, or follow a similar case."
    )
)


async def _help_in_conversation(update: Update, context: Context) -> None:
    assert update.effective_message is not None
    _ = tr(context, update)
    await update.effective_message.reply_text(menu.help_text(_))
