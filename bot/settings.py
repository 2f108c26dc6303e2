"""The bot's settings, read once from ``SHUZHI_*`` environment variables and checked at start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
DEFAULT_WEBHOOK_LISTEN = "127.0.0.1:8443"
_TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")
_API_KEY = re.compile(r"^shz_[A-Za-z0-9_-]{8,200}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{16,256}$")


class SettingsError(ValueError):
    """A missing or invalid setting; the message is one line a person can act on."""


@dataclass(frozen=True)
class Settings:
    """Everything the bot needs to run; tests build it directly."""

    telegram_token: str
    portal_url: str
    api_key: str
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_listen: str = DEFAULT_WEBHOOK_LISTEN
    state_file: Path | None = None
    locales_dir: Path | None = None
    poll_seconds: float = 10.0

    @property
    def bot_api_base_url(self) -> str:
        """``base_url`` for python-telegram-bot (the token is appended to it)."""
        return self.telegram_api_url.rstrip("/") + "/bot"

    @property
    def bot_api_file_url(self) -> str:
        return self.telegram_api_url.rstrip("/") + "/file/bot"

    @property
    def webhook_address(self) -> tuple[str, int]:
        host, _, port = self.webhook_listen.rpartition(":")
        return host or "127.0.0.1", int(port)


def _http_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise SettingsError(f"{name} must be an http(s) URL, got {value[:60]!r}")
    return value.rstrip("/")


def _required(env: Mapping[str, str], name: str, hint: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set: {hint}")
    return value


def load_settings(env: Mapping[str, str] | None = None, *, webhook: bool = False) -> Settings:
    """Settings from ``env`` (default ``os.environ``); raises SettingsError naming what is wrong."""
    env = os.environ if env is None else env
    token = _required(env, "SHUZHI_TELEGRAM_TOKEN", "ask @BotFather on Telegram for a bot token")
    if not _TOKEN.match(token):
        raise SettingsError(
            "SHUZHI_TELEGRAM_TOKEN does not look like a bot token (digits:letters from @BotFather)"
        )
    portal_url = _http_url(
        "SHUZHI_PORTAL_URL",
        _required(env, "SHUZHI_PORTAL_URL", "the portal's address, e.g. http://127.0.0.1:5000"),
    )
    api_key = _required(
        env,
        "SHUZHI_BOT_API_KEY",
        "create one with: flask --app portal api-key create telegram-bot --scope channel:telegram",
    )
    if not _API_KEY.match(api_key):
        raise SettingsError("SHUZHI_BOT_API_KEY does not look like a portal API key (shz_...)")
    api_url = _http_url(
        "SHUZHI_TELEGRAM_API_URL",
        env.get("SHUZHI_TELEGRAM_API_URL", "").strip() or DEFAULT_TELEGRAM_API_URL,
    )
    if api_url.endswith("/bot"):
        api_url = api_url[: -len("/bot")]
    webhook_url = env.get("SHUZHI_TELEGRAM_WEBHOOK_URL", "").strip() or None
    webhook_secret = env.get("SHUZHI_TELEGRAM_WEBHOOK_SECRET", "").strip() or None
    if webhook:
        if webhook_url is None:
            raise SettingsError(
                "SHUZHI_TELEGRAM_WEBHOOK_URL is not set: the public https URL of the webhook"
            )
        if urlsplit(webhook_url).scheme != "https":
            raise SettingsError(
                "SHUZHI_TELEGRAM_WEBHOOK_URL must be an https URL (Telegram requires it)"
            )
        if webhook_secret is None or not _SECRET.match(webhook_secret):
            raise SettingsError(
                "SHUZHI_TELEGRAM_WEBHOOK_SECRET must be 16 to 256 characters of A-Z, a-z, 0-9, _ and -"
            )
    listen = env.get("SHUZHI_TELEGRAM_WEBHOOK_LISTEN", "").strip() or DEFAULT_WEBHOOK_LISTEN
    if (
        not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]*:[0-9]{1,5}", listen)
        or not 0 < int(listen.rsplit(":", 1)[1]) < 65536
    ):
        raise SettingsError(
            "SHUZHI_TELEGRAM_WEBHOOK_LISTEN must look like host:port, e.g. 127.0.0.1:8443"
        )
    poll_raw = env.get("SHUZHI_BOT_POLL_SECONDS", "").strip() or "10"
    try:
        poll_seconds = float(poll_raw)
    except ValueError:
        poll_seconds = -1.0
    if not 0.5 <= poll_seconds <= 3600:
        raise SettingsError("SHUZHI_BOT_POLL_SECONDS must be a number of seconds from 0.5 to 3600")
    state = env.get("SHUZHI_BOT_STATE_FILE", "").strip()
    state_file = Path(state) if state else None
    if state_file is not None and not state_file.parent.is_dir():
        raise SettingsError(f"SHUZHI_BOT_STATE_FILE: the folder {state_file.parent} does not exist")
    locales = env.get("SHUZHI_LOCALES_DIR", "").strip()
    return Settings(
        telegram_token=token,
        portal_url=portal_url,
        api_key=api_key,
        telegram_api_url=api_url,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        webhook_listen=listen,
        state_file=state_file,
        locales_dir=Path(locales) if locales else None,
        poll_seconds=poll_seconds,
    )
