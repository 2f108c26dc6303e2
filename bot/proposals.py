"""Proposals nearby: browse what neighbours propose, support them, comment with a stance, and
``/verify`` the resident with the code from the community office (deliberation, ``/api/v1``)."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot import cards
from bot.gateway import InvalidRequest, PortalError, PortalUnavailable, Resident
from bot.i18n import N_, Translate
from bot.menu import (
    ALL_PROPOSALS,
    CANCEL,
    MAIN_MENU,
    MENU_BUTTONS,
    SHARE_LOCATION,
    LabelFilter,
    main_menu_keyboard,
)
from bot.phone import ask_for_contact
from bot.runtime import Context, app_of, hint, resident_of, tr

WHERE, STANCE, COMMENT = "proposals_where", "proposals_stance", "proposals_comment"
END = ConversationHandler.END
PER_PAGE = 5
MAX_COMMENT_CHARS = 2000
STANCES = {"for": N_("For"), "neutral": N_("Neutral"), "against": N_("Against")}
STALE_BUTTON = N_("This button is no longer active. Press /start to see the menu.")


async def ask_where(update: Update, context: Context) -> str:
    """ "Proposals nearby" / /proposals: near the resident's location, or all of them."""
    assert update.effective_message is not None
    _ = tr(context, update)
    keyboard = ReplyKeyboardMarkup(
        [
            [KeyboardButton(_(SHARE_LOCATION), request_location=True)],
            [KeyboardButton(_(ALL_PROPOSALS))],
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    await update.effective_message.reply_text(
        _("Share your location to see proposals near you, or press “All proposals”."),
        reply_markup=keyboard,
    )
    return WHERE


async def near_location(update: Update, context: Context) -> int:
    message = update.effective_message
    assert message is not None and message.location is not None and context.user_data is not None
    context.user_data["proposal_search"] = {
        "lat": message.location.latitude,
        "lon": message.location.longitude,
    }
    await show_proposals(update, context, page=1, header=True)
    return END


async def all_proposals(update: Update, context: Context) -> int:
    assert context.user_data is not None
    context.user_data["proposal_search"] = {}
    await show_proposals(update, context, page=1, header=True)
    return END


where_hint = hint(N_("Please share your location with the button below, or press “All proposals”."))


def _distance(_: Translate, metres: float | None) -> str | None:
    if metres is None:
        return None
    if metres < 1000:
        return _("%(m)s m away", m=int(round(metres, -1)))
    return _("%(km)s km away", km=f"{metres / 1000:.1f}")


def proposal_line(_: Translate, index: int, item: dict[str, Any], portal_url: str) -> str:
    facts = [
        _(
            "%(count)s of %(needed)s supporters",
            count=item.get("support_count", 0),
            needed=item.get("support_threshold", "?"),
        ),
        str(item.get("status_label") or item.get("status") or ""),
    ]
    distance = _distance(_, item.get("distance_m"))
    if distance:
        facts.insert(1, distance)
    url = str(item.get("url") or "")
    if url.startswith("/"):
        url = portal_url.rstrip("/") + url
    lines = [
        f"{index}. {cards.quote(str(item.get('title') or ''), 120)}",
        "   " + " · ".join(f for f in facts if f),
    ]
    if url:
        lines.append("   " + url)
    return "\n".join(lines)


async def show_proposals(
    update: Update, context: Context, *, page: int, header: bool = False
) -> None:
    assert update.effective_chat is not None and context.user_data is not None
    _ = tr(context, update)
    application = app_of(context)
    search = context.user_data.get("proposal_search") or {}
    try:
        result = await application.gateway.proposals(
            resident_of(update, context),
            lat=search.get("lat"),
            lon=search.get("lon"),
            page=page,
            per_page=PER_PAGE,
        )
    except PortalUnavailable:
        await update.effective_chat.send_message(
            _("I cannot reach the portal right now. Please try again in a minute."),
            reply_markup=main_menu_keyboard(_),
        )
        return
    if header:
        near = search.get("lat") is not None
        await update.effective_chat.send_message(
            (_("Proposals near you:") if near else _("Proposals open for support:"))
            if result.items
            else (
                _("There are no proposals near you yet.")
                if near
                else _("There are no open proposals yet.")
            ),
            reply_markup=main_menu_keyboard(_),
        )
    if not result.items:
        if not header:
            await update.effective_chat.send_message(_("There are no more proposals."))
        return
    first = (page - 1) * PER_PAGE + 1
    lines = [
        proposal_line(_, first + offset, item, application.settings.portal_url)
        for offset, item in enumerate(result.items)
    ]
    rows = [
        [
            InlineKeyboardButton(
                _("Support %(n)s", n=first + offset), callback_data=f"p:s:{item['id']}"
            ),
            InlineKeyboardButton(
                _("Comment on %(n)s", n=first + offset), callback_data=f"p:c:{item['id']}"
            ),
            InlineKeyboardButton(
                _("Read %(n)s", n=first + offset), callback_data=f"p:d:{item['id']}"
            ),
        ]
        for offset, item in enumerate(result.items)
    ]
    if result.page < result.pages:
        rows.append([InlineKeyboardButton(_("More"), callback_data=f"p:m:{page + 1}")])
    await update.effective_chat.send_message(
        "\n\n".join(lines), reply_markup=InlineKeyboardMarkup(rows)
    )


def _verification_hint(_: Translate, error: PortalError) -> str:
    text = error.message
    if error.code == "verification_required":
        text += "\n" + _(
            "If you have a code from your community office, send /verify followed by the code."
        )
    return text


def _proposal_id(data: str | None, position: int = 2) -> int | None:
    parts = (data or "").split(":")
    if (
        len(parts) <= position
        or not parts[position].isdigit()
        or not 0 < int(parts[position]) < 2**31
    ):
        return None
    return int(parts[position])


async def _answer_press(update: Update, context: Context) -> int | None:
    """Answer the press on a button under a proposal (``p:<x>:<id>``): the proposal's id, or None
    when the button is stale (the resident sees an alert)."""
    query = update.callback_query
    assert query is not None
    proposal_id = _proposal_id(query.data)
    if proposal_id is None:
        await query.answer(tr(context, update)(STALE_BUTTON), show_alert=True)
        return None
    await query.answer()
    return proposal_id


async def _press_on_proposal(
    update: Update,
    context: Context,
    call: Callable[[Resident, int], Awaitable[dict[str, Any]]],
    *,
    how_to_verify: bool = False,
) -> tuple[int, dict[str, Any]] | None:
    """A button under a proposal: answer the press and ``call`` the portal with the resident and
    the proposal's id. None when the resident was told why not: a stale button (an alert), the
    portal unreachable, or its refusal (with how to verify, if asked for)."""
    proposal_id = await _answer_press(update, context)
    if proposal_id is None:
        return None
    assert update.effective_chat is not None
    _ = tr(context, update)
    try:
        proposal = await call(resident_of(update, context), proposal_id)
    except PortalUnavailable:
        await update.effective_chat.send_message(
            _("I cannot reach the portal right now. Please press again in a minute.")
        )
        return None
    except PortalError as error:
        await update.effective_chat.send_message(
            _verification_hint(_, error) if how_to_verify else error.message
        )
        return None
    return proposal_id, proposal


async def _confirm(update: Update, context: Context, msgid: str, proposal: dict[str, Any]) -> None:
    """Tell the resident the press worked: ``msgid`` with the proposal's ``title``, ``count`` of
    supporters and the number ``needed``."""
    assert update.effective_chat is not None
    _ = tr(context, update)
    await update.effective_chat.send_message(
        _(
            msgid,
            title=cards.quote(str(proposal.get("title") or ""), 80),
            count=proposal.get("support_count", "?"),
            needed=proposal.get("support_threshold", "?"),
        )
    )


async def support(update: Update, context: Context) -> None:
    pressed = await _press_on_proposal(
        update, context, app_of(context).gateway.support_proposal, how_to_verify=True
    )
    if pressed is not None:
        await _confirm(
            update,
            context,
            N_("Thank you for supporting “%(title)s”: %(count)s of %(needed)s supporters."),
            pressed[1],
        )


def proposal_card(_: Translate, proposal: dict[str, Any], portal_url: str) -> str:
    """A proposal as a message: text, supporters, the shape of the debate, the official answer."""
    lines = [
        cards.quote(str(proposal.get("title") or _("(hidden by moderator)")), 120),
        " · ".join(
            str(f)
            for f in (
                proposal.get("status_label") or proposal.get("status"),
                _(
                    "%(count)s of %(needed)s supporters",
                    count=proposal.get("support_count", 0),
                    needed=proposal.get("support_threshold", "?"),
                ),
                (proposal.get("department") or {}).get("name"),
            )
            if f
        ),
    ]
    if proposal.get("body"):
        lines += ["", cards.quote(str(proposal["body"]), 600)]
    overview = proposal.get("overview") or {}
    counts = overview.get("counts") or {}
    if any(counts.values()):
        lines += [
            "",
            _(
                "Discussion: %(f)s for · %(n)s neutral · %(a)s against",
                f=counts.get("for", 0),
                n=counts.get("neutral", 0),
                a=counts.get("against", 0),
            ),
        ]
        terms = overview.get("terms") or {}
        if terms.get("for"):
            lines.append(_("For: %(terms)s", terms="、".join(terms["for"][:6])))
        if terms.get("against"):
            lines.append(_("Against: %(terms)s", terms="、".join(terms["against"][:6])))
    answer = proposal.get("answer")
    if answer:
        lines += [
            "",
            _(
                "Official answer: %(outcome)s",
                outcome=answer.get("outcome_label") or answer.get("outcome"),
            ),
            cards.quote(str(answer.get("text") or ""), 600),
            _("Reasons: %(reasons)s", reasons=cards.quote(str(answer.get("reasons") or ""), 400)),
        ]
    if proposal.get("closed_reason"):
        lines += ["", cards.quote(str(proposal["closed_reason"]), 300)]
    url = str(proposal.get("url") or "")
    if url.startswith("/"):
        lines += ["", portal_url.rstrip("/") + url]
    return "\n".join(lines)


async def details(update: Update, context: Context) -> None:
    """ "Read n": the proposal, its for/against overview and answer, with Support/Comment/Follow."""
    application = app_of(context)
    pressed = await _press_on_proposal(update, context, application.gateway.get_proposal)
    if pressed is None:
        return
    proposal_id, proposal = pressed
    assert update.effective_chat is not None
    _ = tr(context, update)
    buttons = [
        InlineKeyboardButton(_("Support"), callback_data=f"p:s:{proposal_id}"),
        InlineKeyboardButton(_("Comment"), callback_data=f"p:c:{proposal_id}"),
    ]
    if not proposal.get("following"):
        buttons.append(InlineKeyboardButton(_("Follow"), callback_data=f"p:f:{proposal_id}"))
    await update.effective_chat.send_message(
        proposal_card(_, proposal, application.settings.portal_url),
        reply_markup=InlineKeyboardMarkup([buttons]),
    )


async def follow(update: Update, context: Context) -> None:
    pressed = await _press_on_proposal(update, context, app_of(context).gateway.follow_proposal)
    if pressed is not None:
        await _confirm(
            update,
            context,
            N_(
                "You follow “%(title)s”: I will tell you when it reaches its threshold, is "
                "answered or moves on."
            ),
            pressed[1],
        )


async def more(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    page = _proposal_id(query.data)
    await query.answer()
    if page is not None and page <= 10_000:
        await show_proposals(update, context, page=page)


async def ask_stance(update: Update, context: Context) -> str | None:
    """ "Comment on n": first for, neutral or against."""
    proposal_id = await _answer_press(update, context)
    if proposal_id is None:
        return None
    assert update.effective_chat is not None
    _ = tr(context, update)
    await update.effective_chat.send_message(
        _("Are you for or against this proposal?"),
        reply_markup=InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(_(label), callback_data=f"p:st:{proposal_id}:{key}")
                    for key, label in STANCES.items()
                ]
            ]
        ),
    )
    return STANCE


async def stance_chosen(update: Update, context: Context) -> str | None:
    query = update.callback_query
    assert query is not None and update.effective_chat is not None and context.user_data is not None
    _ = tr(context, update)
    parts = (query.data or "").split(":")
    proposal_id = _proposal_id(query.data)
    if proposal_id is None or len(parts) != 4 or parts[3] not in STANCES:
        await query.answer(_(STALE_BUTTON), show_alert=True)
        return None
    await query.answer()
    context.user_data["proposal_comment"] = {"id": proposal_id, "stance": parts[3]}
    await update.effective_chat.send_message(_("Write your comment (or /cancel)."))
    return COMMENT


async def comment_received(update: Update, context: Context) -> str | int:
    message = update.effective_message
    assert message is not None and context.user_data is not None
    _ = tr(context, update)
    target = context.user_data.get("proposal_comment") or {}
    body = (message.text or "").strip()
    if len(body) > MAX_COMMENT_CHARS:
        await message.reply_text(
            _(
                "That is too long: at most %(max)s characters. Please shorten it.",
                max=MAX_COMMENT_CHARS,
            )
        )
        return COMMENT
    try:
        created = await app_of(context).gateway.comment_on_proposal(
            resident_of(update, context), int(target["id"]), body=body, stance=str(target["stance"])
        )
    except PortalUnavailable:
        await message.reply_text(
            _("I cannot reach the portal right now. Please send it again in a minute.")
        )
        return COMMENT
    except PortalError as error:
        context.user_data.pop("proposal_comment", None)
        await message.reply_text(_verification_hint(_, error), reply_markup=main_menu_keyboard(_))
        return END
    context.user_data.pop("proposal_comment", None)
    text = (
        _("Thank you. Your comment will appear after a moderator has looked at it.")
        if created.get("held_for_review")
        else _("Thank you, your comment is published.")
    )
    await message.reply_text(text, reply_markup=main_menu_keyboard(_))
    return END


comment_hint = hint(N_("Please write your comment as text, or send /cancel."))


async def leave(update: Update, context: Context) -> int:
    assert update.effective_chat is not None and context.user_data is not None
    _ = tr(context, update)
    context.user_data.pop("proposal_comment", None)
    await update.effective_chat.send_message(_("OK."), reply_markup=main_menu_keyboard(_))
    return END


async def verify_command(update: Update, context: Context) -> None:
    """``/verify CODE``: the one-time code from the community office raises the resident's level."""
    assert update.effective_message is not None
    _ = tr(context, update)
    if not context.args:  # no code: offer to confirm the phone number instead
        await ask_for_contact(update, context)
        return
    try:
        result = await app_of(context).gateway.verify_resident(
            resident_of(update, context), context.args[0]
        )
    except InvalidRequest as error:
        await update.effective_message.reply_text(error.message)
        return
    except PortalUnavailable:
        await update.effective_message.reply_text(
            _("I cannot reach the portal right now. Please try again in a minute.")
        )
        return
    await update.effective_message.reply_text(
        _("Thank you: your account is now “%(level)s”.", level=result.get("label", ""))
    )


def conversation(*, persistent: bool) -> ConversationHandler:  # type: ignore[type-arg]
    """Where to look, and a comment's stance and text."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "If 'per_message=False'", PTBUserWarning)
        return ConversationHandler(
            entry_points=[
                MessageHandler(LabelFilter(MAIN_MENU["proposals"]), ask_where),
                CommandHandler("proposals", ask_where),
                CallbackQueryHandler(ask_stance, pattern=r"^p:c:"),
            ],
            states={
                WHERE: [
                    MessageHandler(filters.LOCATION, near_location),
                    MessageHandler(LabelFilter(ALL_PROPOSALS), all_proposals),
                    MessageHandler(
                        ~filters.COMMAND & ~MENU_BUTTONS & ~LabelFilter(CANCEL), where_hint
                    ),
                ],
                STANCE: [CallbackQueryHandler(stance_chosen, pattern=r"^p:st:")],
                COMMENT: [
                    MessageHandler(
                        filters.TEXT & ~filters.COMMAND & ~MENU_BUTTONS & ~LabelFilter(CANCEL),
                        comment_received,
                    ),
                    MessageHandler(
                        ~filters.COMMAND & ~MENU_BUTTONS & ~LabelFilter(CANCEL), comment_hint
                    ),
                ],
            },
            fallbacks=[
                CommandHandler(["cancel", "start"], leave),
                MessageHandler(LabelFilter(CANCEL), leave),
                MessageHandler(MENU_BUTTONS, leave),
            ],
            name="proposals",
            persistent=persistent,
        )


def handlers() -> list[object]:
    """Outside the conversation: support, "More", read, follow, /verify."""
    return [
        CallbackQueryHandler(support, pattern=r"^p:s:"),
        CallbackQueryHandler(more, pattern=r"^p:m:"),
        CallbackQueryHandler(details, pattern=r"^p:d:"),
        CallbackQueryHandler(follow, pattern=r"^p:f:"),
        CommandHandler("verify", verify_command),
    ]
