"""The bot's Application (with its gateway and settings) and each resident's chat state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot.gateway import PortalGateway, Resident
from bot.i18n import Translate, locale_for_language_code, translator
from bot.recent import RecentIds
from bot.settings import Settings

Context = ContextTypes.DEFAULT_TYPE


class BotApplication(Application):  # type: ignore[type-arg]
    """python-telegram-bot's Application plus what every handler needs: the portal gateway,
    the settings, a clock (tests move it) and the background tasks started in ``post_init``."""

    def __init__(
        self,
        *,
        gateway: PortalGateway,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gateway = gateway
        self.settings = settings
        self.clock = clock
        self.background: list[asyncio.Task[None]] = []
        #: (fetched at, groups) of the portal's category catalogue.
        self.catalogue_cache: tuple[float, list[dict[str, Any]]] | None = None


def app_of(context: Context) -> BotApplication:
    return cast(BotApplication, context.application)


def locale_of(context: Context, update: Update | None = None) -> str:
    """The resident's chosen language, else Telegram's ``language_code`` (remembered)."""
    data = context.user_data if context.user_data is not None else {}
    locale = data.get("locale")
    if locale is None:
        user = update.effective_user if update is not None else None
        locale = locale_for_language_code(user.language_code if user is not None else None)
        data["locale"] = locale
    return str(locale)


def tr(context: Context, update: Update | None = None) -> Translate:
    return translator(locale_of(context, update), app_of(context).settings.locales_dir)


def hint(msgid: str) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
    """A handler for whatever a step does not expect: it answers with ``msgid`` (marked with
    ``N_``), in the resident's language, saying what the step waits for."""

    async def reply(update: Update, context: Context) -> None:
        assert update.effective_message is not None
        _ = tr(context, update)
        await update.effective_message.reply_text(_(msgid))

    return reply


def resident_of(update: Update, context: Context) -> Resident:
    user = update.effective_user
    assert user is not None
    return Resident(
        telegram_id=user.id, name=user.full_name or "", locale=locale_of(context, update)
    )


def bot_memory(application: Application, key: str, size: int = 10_000) -> RecentIds:  # type: ignore[type-arg]
    """A RecentIds kept in (persisted) bot data under ``key``."""
    memory = application.bot_data.get(key)
    if not isinstance(memory, RecentIds):
        memory = RecentIds(size)
        application.bot_data[key] = memory
    return memory
