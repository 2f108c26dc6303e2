"""``build_application(settings, gateway)``: the bot's handlers, wired into one Application.

Handler groups: -1 drops repeated updates (same ``update_id``); 0 holds the conversations, the
commands and the catch-alls, first match wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    PicklePersistence,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from bot import lookup, notifications, phone, proposals, reporting, submission
from bot.gateway import AccessDenied, InvalidRequest, PortalGateway, PortalUnavailable
from bot.i18n import LANGUAGE_NAMES, LOCALES, use_locales_dir
from bot.menu import MAIN_MENU, LabelFilter, help_text, main_menu_keyboard
from bot.runtime import BotApplication, Context, app_of, bot_memory, resident_of, tr
from bot.settings import Settings
from bot.throttle import RetryAfterLimiter

log = logging.getLogger(__name__)

SEEN_UPDATES = "seen_updates"
#: How many handled update ids to remember (Telegram re-sends within minutes, not days).
SEEN_UPDATES_SIZE = 5_000


async def screen_updates(update: Update, context: Context) -> None:
    """Group -1: an update already handled (same ``update_id``) stops here, and so does anything
    from outside a private chat; an edited message gets a short note instead of being handled
    again as new text."""
    if not bot_memory(context.application, SEEN_UPDATES, SEEN_UPDATES_SIZE).add(update.update_id):
        log.info("update %s seen before; ignored", update.update_id)
        raise ApplicationHandlerStop
    chat = update.effective_chat
    if chat is None or chat.type != "private" or update.effective_user is None:
        raise ApplicationHandlerStop  # groups and channels: residents talk to the bot one to one
    if update.edited_message is not None:
        _ = tr(context, update)
        await update.edited_message.reply_text(
            _("I only read new messages, not edits. Please send the correction as a new message.")
        )
        raise ApplicationHandlerStop


async def start(update: Update, context: Context) -> None:
    assert update.effective_message is not None and update.effective_user is not None
    _ = tr(context, update)
    await update.effective_message.reply_text(
        _(
            "Hello, %(name)s! I pass your problems and proposals to the district's departments, "
            "tell you how they are handled, and ask you afterwards whether they were solved.",
            name=update.effective_user.first_name,
        )
        + "\n"
        + _("Choose below, or simply write what is wrong."),
        reply_markup=main_menu_keyboard(_),
    )


async def help_command(update: Update, context: Context) -> None:
    assert update.effective_message is not None
    _ = tr(context, update)
    await update.effective_message.reply_text(help_text(_), reply_markup=main_menu_keyboard(_))


async def language_command(update: Update, context: Context) -> None:
    assert update.effective_message is not None
    _ = tr(context, update)
    await update.effective_message.reply_text(
        _("Choose your language:"),
        reply_markup=InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(LANGUAGE_NAMES[loc], callback_data=f"lang:{loc}")
                    for loc in LOCALES
                ]
            ]
        ),
    )


async def language_chosen(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and context.user_data is not None and update.effective_chat is not None
    locale = (query.data or "").partition(":")[2]
    if locale not in LOCALES:
        await query.answer()
        return
    context.user_data["locale"] = locale
    _ = tr(context, update)
    await query.answer()
    with contextlib.suppress(BadRequest):  # pressed twice: "message is not modified"
        await query.edit_message_text(
            _("Language: %(name)s. Send /language to change it.", name=LANGUAGE_NAMES[locale])
        )
    await update.effective_chat.send_message(
        _("Choose below, or simply write what is wrong."), reply_markup=main_menu_keyboard(_)
    )


async def link_command(update: Update, context: Context) -> None:
    """``/link CODE``: connect this chat to a portal account (code from the account page)."""
    assert update.effective_message is not None
    _ = tr(context, update)
    application = app_of(context)
    if not context.args:
        await update.effective_message.reply_text(
            _(
                "To connect this chat to your portal account, sign in at "
                "%(url)s/account/link-code, get a code, and send /link followed by the code.",
                url=application.settings.portal_url,
            )
        )
        return
    try:
        result = await application.gateway.link_account(
            resident_of(update, context), context.args[0]
        )
    except InvalidRequest as error:
        await update.effective_message.reply_text(error.message)
        return
    await update.effective_message.reply_text(
        _(
            "Done: this chat is now connected to the portal account of %(name)s.",
            name=result.get("display_name", ""),
        )
    )


async def cancel_outside(update: Update, context: Context) -> None:
    assert update.effective_message is not None
    _ = tr(context, update)
    await update.effective_message.reply_text(
        _("There is nothing to cancel."), reply_markup=main_menu_keyboard(_)
    )


async def unknown_command(update: Update, context: Context) -> None:
    assert update.effective_message is not None
    _ = tr(context, update)
    await update.effective_message.reply_text(
        _("I do not know that command. Send /help to see what I can do."),
        reply_markup=main_menu_keyboard(_),
    )


async def anything_else(update: Update, context: Context) -> None:
    """Stickers, voice, files, locations… outside a conversation."""
    assert update.effective_message is not None
    _ = tr(context, update)
    await update.effective_message.reply_text(
        _(
            "Sorry, I cannot read stickers, voice messages or files. Choose from the menu below, "
            "or write what is wrong as text."
        ),
        reply_markup=main_menu_keyboard(_),
    )


async def on_error(update: object, context: Context) -> None:
    """Log the error and tell the resident in one short line; the conversation goes on."""
    error = context.error
    if isinstance(error, PortalUnavailable):
        log.warning("portal unavailable: %s", error)
    elif isinstance(error, AccessDenied):
        log.error("the portal refused the bot's API key: %s (check SHUZHI_BOT_API_KEY)", error)
    else:
        log.error("error while handling an update", exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    _ = tr(context, update)
    if isinstance(error, PortalUnavailable):
        text = _("I cannot reach the portal right now. Please try again in a few minutes.")
    elif isinstance(error, AccessDenied):
        text = _(
            "The bot is not set up correctly; the administrators have been told. Please try again later."
        )
    else:
        text = _("Sorry, something went wrong on my side. Please try again.")
    with contextlib.suppress(TelegramError):
        if update.callback_query is not None:
            await update.callback_query.answer()
        await update.effective_chat.send_message(text)


# --- background work: notifications and saved drafts -------------------------------------------


async def _every(application: BotApplication, seconds: float, work: str) -> None:
    while True:
        try:
            if work == "notifications":
                await notifications.poll_notifications(application)
            else:
                await submission.deliver_pending(application)
        except PortalUnavailable as error:
            log.warning("%s: portal unavailable (%s)", work, error)
        except Exception:  # keep the loop alive whatever one round did
            log.exception("%s round failed", work)
        await asyncio.sleep(seconds)


async def start_background(application: BotApplication) -> None:
    """``post_init``: poll notifications and retry saved drafts until the bot stops."""
    seconds = application.settings.poll_seconds
    application.background = [
        asyncio.create_task(_every(application, seconds, "notifications"), name="notifications"),
        asyncio.create_task(
            _every(application, max(seconds, 5.0), "pending"), name="pending drafts"
        ),
    ]


async def stop_background(application: BotApplication) -> None:
    """``post_stop``: cancel the background loops."""
    for task in application.background:
        task.cancel()
    for task in application.background:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    application.background = []


async def close_gateway(application: BotApplication) -> None:
    """``post_shutdown``: close the gateway's HTTP connections."""
    aclose = getattr(application.gateway, "aclose", None)
    if aclose is not None:
        await aclose()


def build_application(
    settings: Settings,
    gateway: PortalGateway,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    persistence_path: Path | None = None,
    rate_limiter: RetryAfterLimiter | None = None,
) -> BotApplication:
    """The bot, ready for ``run_polling``, the webhook server, or ``process_update`` in tests.

    Args:
        settings: :class:`bot.settings.Settings`.
        gateway: the portal (``HttpPortalGateway`` in production).
        request, get_updates_request: Telegram transports (tests pass a fake one).
        persistence_path: overrides ``settings.state_file`` (drafts and memory survive restarts).
        rate_limiter: overrides the default :class:`RetryAfterLimiter`.
    """
    use_locales_dir(settings.locales_dir)
    state_file = persistence_path or settings.state_file
    builder = (
        ApplicationBuilder()
        .application_class(BotApplication, kwargs={"gateway": gateway, "settings": settings})
        .token(settings.telegram_token)
        .base_url(settings.bot_api_base_url)
        .base_file_url(settings.bot_api_file_url)
        .rate_limiter(rate_limiter or RetryAfterLimiter())
        .post_init(start_background)  # type: ignore[arg-type]
        .post_stop(stop_background)  # type: ignore[arg-type]
        .post_shutdown(close_gateway)  # type: ignore[arg-type]
    )
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    if state_file is not None:
        builder = builder.persistence(PicklePersistence(filepath=state_file))
    application: BotApplication = builder.build()  # type: ignore[assignment]
    persistent = state_file is not None

    application.add_handler(TypeHandler(Update, screen_updates), group=-1)
    handlers: list[object] = [
        lookup.conversation(persistent=persistent),
        proposals.conversation(persistent=persistent),
        reporting.conversation(persistent=persistent),
        CommandHandler("start", start),
        CommandHandler("help", help_command),
        MessageHandler(LabelFilter(MAIN_MENU["help"]), help_command),
        CommandHandler("language", language_command),
        CallbackQueryHandler(language_chosen, pattern=r"^lang:"),
        CommandHandler("link", link_command),
        CommandHandler("cancel", cancel_outside),
        *lookup.handlers(),
        *notifications.handlers(),
        *proposals.handlers(),
        *phone.handlers(),
        CallbackQueryHandler(reporting.stale_button),
        MessageHandler(filters.COMMAND, unknown_command),
        MessageHandler(filters.ALL, anything_else),
    ]
    for handler in handlers:
        application.add_handler(handler)  # type: ignore[arg-type]
    application.add_error_handler(on_error)  # type: ignore[arg-type]
    return application
