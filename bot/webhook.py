"""Webhook mode: Telegram POSTs updates to us; the secret token is checked in constant time.

python-telegram-bot's own webhook server needs tornado and compares the secret token with ``!=``;
this small WSGI endpoint (werkzeug, already installed with Flask) checks it with
``hmac.compare_digest`` and hands updates to the running Application's queue.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from telegram import Update
from werkzeug.serving import BaseWSGIServer, make_server

from bot.runtime import BotApplication

log = logging.getLogger(__name__)

SECRET_HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"
MAX_UPDATE_BYTES = 1_000_000

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class WebhookEndpoint:
    """The WSGI app at ``path``: only POSTs of JSON with the right secret become updates."""

    def __init__(
        self,
        application: BotApplication,
        loop: asyncio.AbstractEventLoop,
        *,
        secret: str,
        path: str,
    ) -> None:
        self.application = application
        self.loop = loop
        self.secret = secret.encode("utf-8")
        self.path = path or "/"

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def answer(status: str, text: str) -> list[bytes]:
            body = text.encode("utf-8")
            start_response(
                status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            )
            return [body]

        if environ.get("PATH_INFO", "") != self.path:
            return answer("404 Not Found", "not found")
        if environ.get("REQUEST_METHOD") != "POST":
            return answer("405 Method Not Allowed", "POST only")
        token = environ.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(token, self.secret):
            log.warning("webhook request with a missing or wrong secret token")
            return answer("403 Forbidden", "forbidden")
        if environ.get("CONTENT_TYPE", "").split(";")[0].strip() != "application/json":
            return answer("415 Unsupported Media Type", "send application/json")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_UPDATE_BYTES:
            return answer("413 Content Too Large", "bad length")
        try:
            data = json.loads(environ["wsgi.input"].read(length))
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError):
            return answer("400 Bad Request", "not an update")
        if update is None:
            return answer("400 Bad Request", "not an update")
        future = asyncio.run_coroutine_threadsafe(
            self.application.update_queue.put(update), self.loop
        )
        future.result(timeout=10)
        return answer("200 OK", "ok")


class WebhookServer:
    """A threaded werkzeug server for :class:`WebhookEndpoint` (``port`` 0 picks a free one)."""

    def __init__(
        self,
        application: BotApplication,
        loop: asyncio.AbstractEventLoop,
        *,
        host: str,
        port: int,
        secret: str,
        path: str,
    ) -> None:
        endpoint = WebhookEndpoint(application, loop, secret=secret, path=path)
        self._server: BaseWSGIServer = make_server(host, port, endpoint, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


async def run_webhook(application: BotApplication, stop: asyncio.Event) -> None:
    """Serve the webhook until ``stop`` is set: register it with Telegram, then take updates."""
    from bot.app import close_gateway, start_background, stop_background

    settings = application.settings
    assert settings.webhook_url and settings.webhook_secret
    host, port = settings.webhook_address
    server = WebhookServer(
        application,
        asyncio.get_running_loop(),
        host=host,
        port=port,
        secret=settings.webhook_secret,
        path=urlsplit(settings.webhook_url).path or "/",
    )
    async with application:
        await application.bot.set_webhook(
            url=settings.webhook_url,
            secret_token=settings.webhook_secret,
            allowed_updates=Update.ALL_TYPES,
        )
        await application.start()
        await start_background(application)
        server.start()
        log.info("webhook listening on %s:%s", host, server.port)
        try:
            await stop.wait()
        finally:
            server.stop()
            await stop_background(application)
            await application.stop()
    await close_gateway(application)
