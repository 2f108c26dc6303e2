"""Looking cases up: ``/status <tracking number>`` and "my cases" (paginated)."""

from __future__ import annotations

import re
import warnings

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot import cards
from bot.gateway import CaseNotFound, PortalUnavailable
from bot.i18n import N_
from bot.menu import CANCEL, MAIN_MENU, MENU_BUTTONS, LabelFilter, main_menu_keyboard
from bot.runtime import Context, app_of, hint, locale_of, resident_of, tr

AWAIT_NUMBER = "await_number"
PER_PAGE = 5
_TRACKING = r"^\s*[A-Za-z]{1,6}[-\s]?\d{4}[-\s]?\d{4,7}[-\s]?\d\s*$"
#: A message that is just a tracking number (e.g. ``LJ-2611-0042-7``).
TRACKING_NUMBER_TEXT = filters.Regex(re.compile(_TRACKING))


async def show_case(update: Update, context: Context, number: str) -> bool:
    """Send the case card; False (after saying so) when there is no such case."""
    assert update.effective_chat is not None
    _ = tr(context, update)
    number = number.strip()[:40]
    try:
        case = await app_of(context).gateway.get_case(resident_of(update, context), number)
    except CaseNotFound:
        await update.effective_chat.send_message(
            _(
                "I found no case with the number %(number)s. Please check it (it looks like "
                "LJ-2611-0042-7) and send it again.",
                number=number,
            )
        )
        return False
    await update.effective_chat.send_message(cards.case_card(_, case, locale_of(context, update)))
    return True


async def status_command(update: Update, context: Context) -> None:
    """``/status <number>`` anywhere (also in the middle of a report)."""
    assert update.effective_message is not None
    _ = tr(context, update)
    if context.args:
        await show_case(update, context, " ".join(context.args))
        return
    await update.effective_message.reply_text(
        _("Send /status followed by the tracking number, e.g. /status LJ-2611-0042-7.")
    )


async def ask_number(update: Update, context: Context) -> str | int:
    assert update.effective_message is not None
    _ = tr(context, update)
    if context.args:
        found = await show_case(update, context, " ".join(context.args))
        return ConversationHandler.END if found else AWAIT_NUMBER
    await update.effective_message.reply_text(
        _("Send me the tracking number of the case (it looks like LJ-2611-0042-7)."),
        reply_markup=ReplyKeyboardRemove(),
    )
    return AWAIT_NUMBER


async def number_received(update: Update, context: Context) -> str | int:
    assert update.effective_message is not None
    _ = tr(context, update)
    found = await show_case(update, context, update.effective_message.text or "")
    if not found:
        return AWAIT_NUMBER
    assert update.effective_chat is not None
    await update.effective_chat.send_message(
        _("Anything else?"), reply_markup=main_menu_keyboard(_)
    )
    return ConversationHandler.END


number_hint = hint(N_("Please type the tracking number as text, or send /cancel."))


async def stop_lookup(update: Update, context: Context) -> int:
    assert update.effective_message is not None
    _ = tr(context, update)
    await update.effective_message.reply_text(_("OK."), reply_markup=main_menu_keyboard(_))
    return ConversationHandler.END


async def number_text(update: Update, context: Context) -> None:
    """A message that is just a tracking number, outside any conversation."""
    assert update.effective_message is not None
    await show_case(update, context, update.effective_message.text or "")


async def my_cases(update: Update, context: Context, page: int = 1) -> None:
    """The resident's cases, five per message, with a "More" button."""
    assert update.effective_chat is not None
    _ = tr(context, update)
    locale = locale_of(context, update)
    result = await app_of(context).gateway.my_cases(
        resident_of(update, context), page=page, per_page=PER_PAGE
    )
    if not result.items:
        text = (
            _("You have no cases yet. Press “Report a problem” to start one.")
            if page == 1
            else _("There are no more cases.")
        )
        await update.effective_chat.send_message(text)
        return
    header = _(
        "Your cases (%(first)s–%(last)s of %(total)s):",
        first=(page - 1) * PER_PAGE + 1,
        last=(page - 1) * PER_PAGE + len(result.items),
        total=result.total,
    )
    body = "\n\n".join(cards.case_card(_, case, locale) for case in result.items)
    markup = None
    if result.page < result.pages:
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton(_("More"), callback_data=f"m:{page + 1}")]]
        )
    await update.effective_chat.send_message(header + "\n\n" + body, reply_markup=markup)


async def my_cases_command(update: Update, context: Context) -> None:
    await my_cases(update, context)


async def more_cases(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    raw = (query.data or "").partition(":")[2]
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        await query.answer()
        return
    await query.answer()
    try:
        await my_cases(update, context, page=int(raw))
    except PortalUnavailable:
        assert update.effective_chat is not None
        _ = tr(context, update)
        await update.effective_chat.send_message(
            _("I cannot reach the portal right now. Please try again in a minute.")
        )


def conversation(*, persistent: bool) -> ConversationHandler:  # type: ignore[type-arg]
    """ "Check a case" without a number: ask for it, and keep asking until it is found."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "If 'per_message=False'", PTBUserWarning)
        return ConversationHandler(
            entry_points=[
                MessageHandler(LabelFilter(MAIN_MENU["status"]), ask_number),
                CommandHandler("status", ask_number),
            ],
            states={
                AWAIT_NUMBER: [
                    MessageHandler(
                        filters.TEXT & ~filters.COMMAND & ~MENU_BUTTONS & ~LabelFilter(CANCEL),
                        number_received,
                    ),
                    MessageHandler(
                        ~filters.COMMAND & ~MENU_BUTTONS & ~LabelFilter(CANCEL), number_hint
                    ),
                ]
            },
            fallbacks=[
                CommandHandler("status", ask_number),
                CommandHandler("cancel", stop_lookup),
                MessageHandler(LabelFilter(CANCEL), stop_lookup),
                CommandHandler("start", stop_lookup),
                MessageHandler(MENU_BUTTONS, stop_lookup),
            ],
            name="lookup",
            persistent=persistent,
        )


def handlers() -> list[object]:
    """Handlers outside conversations: my cases, its "More" button, a bare tracking number."""
    return [
        CommandHandler("mycases", my_cases_command),
        MessageHandler(LabelFilter(MAIN_MENU["mine"]), my_cases_command),
        CallbackQueryHandler(more_cases, pattern=r"^m:"),
        MessageHandler(TRACKING_NUMBER_TEXT & ~filters.COMMAND, number_text),
    ]
