"""``python -m bot`` / ``shuzhi-bot``: run the Telegram bot (long polling, or ``--webhook``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from telegram import Update
from telegram.error import InvalidToken

from bot.app import build_application
from bot.gateway import AccessDenied, HttpPortalGateway, PortalError, PortalUnavailable
from bot.settings import SettingsError, load_settings

log = logging.getLogger("bot")


async def check_portal(portal_url: str, api_key: str) -> str | None:
    """One line explaining why the portal refuses the bot, or None (unreachable is only a warning)."""
    gateway = HttpPortalGateway(portal_url, api_key, attempts=1)
    try:
        await gateway.catalogue(locale="en")
    except AccessDenied as error:
        return f"the portal refused SHUZHI_BOT_API_KEY: {error.message}"
    except PortalUnavailable as error:
        log.warning("the portal is not reachable yet (%s); drafts will wait for it", error)
    except PortalError as error:
        return f"the portal answered unexpectedly: {error.message}"
    finally:
        await gateway.aclose()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shuzhi-bot", description=__doc__)
    parser.add_argument(
        "--webhook", action="store_true", help="receive updates by webhook, not polling"
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.umask(0o077)  # the state file holds residents' drafts: readable by this user only
    try:
        settings = load_settings(webhook=args.webhook)
    except SettingsError as error:
        print(f"shuzhi-bot: {error}", file=sys.stderr)
        return 2
    problem = asyncio.run(check_portal(settings.portal_url, settings.api_key))
    if problem is not None:
        print(f"shuzhi-bot: {problem}", file=sys.stderr)
        return 2
    application = build_application(
        settings, HttpPortalGateway(settings.portal_url, settings.api_key)
    )
    try:
        if args.webhook:
            asyncio.run(_serve_webhook(application))
        else:
            application.run_polling(allowed_updates=Update.ALL_TYPES)
    except InvalidToken:
        print(
            "shuzhi-bot: Telegram refused SHUZHI_TELEGRAM_TOKEN (revoked or mistyped?)",
            file=sys.stderr,
        )
        return 2
    return 0


async def _serve_webhook(application: object) -> None:
    from bot.runtime import BotApplication
    from bot.webhook import run_webhook

    assert isinstance(application, BotApplication)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_webhook(application, stop)


if __name__ == "__main__":
    sys.exit(main())
