"""Start-up settings (checked in a real subprocess) and the webhook endpoint over real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.app import build_application
from bot.settings import SettingsError, load_settings
from bot.webhook import WebhookServer
from tests.bot.conftest import bot_settings
from tests.bot.fakes import FakePortal, FakeTelegram

ROOT = Path(__file__).parents[2]
GOOD = {
    "SHUZHI_TELEGRAM_TOKEN": "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi",
    "SHUZHI_PORTAL_URL": "http://127.0.0.1:5000",
    "SHUZHI_BOT_API_KEY": "shz_abcdefgh12345678",
}


def run_bot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHUZHI_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "SHUZHI_TELEGRAM_TOKEN is not set"),
        (
            {**GOOD, "SHUZHI_TELEGRAM_TOKEN": "not-a-token"},
            "SHUZHI_TELEGRAM_TOKEN does not look like a bot token",
        ),
        ({**GOOD, "SHUZHI_PORTAL_URL": ""}, "SHUZHI_PORTAL_URL is not set"),
        ({**GOOD, "SHUZHI_PORTAL_URL": "ftp://portal"}, "SHUZHI_PORTAL_URL must be an http(s) URL"),
        ({**GOOD, "SHUZHI_BOT_API_KEY": ""}, "SHUZHI_BOT_API_KEY is not set"),
        (
            {**GOOD, "SHUZHI_BOT_API_KEY": "hunter2"},
            "SHUZHI_BOT_API_KEY does not look like a portal API key",
        ),
        (
            {**GOOD, "SHUZHI_TELEGRAM_API_URL": "telegram"},
            "SHUZHI_TELEGRAM_API_URL must be an http(s) URL",
        ),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(env)
    assert expected in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "SHUZHI_TELEGRAM_TOKEN is not set: ask @BotFather"),
        (
            {**GOOD, "SHUZHI_BOT_API_KEY": "hunter2"},
            "SHUZHI_BOT_API_KEY does not look like a portal API key",
        ),
    ],
)
def test_bad_settings_stop_the_bot_with_one_clear_line(env: dict[str, str], expected: str) -> None:
    result = run_bot(env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("shuzhi-bot: ") and expected in lines[0]


def test_webhook_mode_needs_an_https_url_and_a_strong_secret() -> None:
    with pytest.raises(SettingsError, match="SHUZHI_TELEGRAM_WEBHOOK_URL is not set"):
        load_settings(GOOD, webhook=True)
    weak = {
        **GOOD,
        "SHUZHI_TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram",
        "SHUZHI_TELEGRAM_WEBHOOK_SECRET": "short",
    }
    result = run_bot(weak, "--webhook")
    assert (
        result.returncode == 2
        and "SHUZHI_TELEGRAM_WEBHOOK_SECRET must be 16 to 256" in result.stderr
    )
    with pytest.raises(SettingsError, match="must be an https URL"):
        load_settings(
            {
                **GOOD,
                "SHUZHI_TELEGRAM_WEBHOOK_URL": "http://x/y",
                "SHUZHI_TELEGRAM_WEBHOOK_SECRET": "s" * 20,
            },
            webhook=True,
        )


def test_a_refused_api_key_stops_the_bot(tmp_path: Path) -> None:
    """A portal that answers 401 (here a tiny real HTTP server) stops the bot at start."""
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Response

    def portal(environ, start_response):  # type: ignore[no-untyped-def]
        body = json.dumps(
            {"code": "unauthenticated", "message": "This API key is unknown or has been revoked."}
        )
        return Response(body, status=401, content_type="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, portal, threaded=True)
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = run_bot({**GOOD, "SHUZHI_PORTAL_URL": f"http://127.0.0.1:{server.server_port}"})
    finally:
        server.shutdown()
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "shuzhi-bot: the portal refused SHUZHI_BOT_API_KEY: This API key is unknown or has been revoked."
    )


def test_settings_values() -> None:
    settings = load_settings(
        {
            **GOOD,
            "SHUZHI_TELEGRAM_API_URL": "http://127.0.0.1:8081/bot",
            "SHUZHI_BOT_POLL_SECONDS": "3",
        }
    )
    assert settings.bot_api_base_url == "http://127.0.0.1:8081/bot"
    assert settings.bot_api_file_url == "http://127.0.0.1:8081/file/bot"
    assert settings.poll_seconds == 3.0
    assert load_settings(GOOD).bot_api_base_url == "https://api.telegram.org/bot"
    with pytest.raises(SettingsError, match="SHUZHI_BOT_STATE_FILE"):
        load_settings({**GOOD, "SHUZHI_BOT_STATE_FILE": "/no/such/folder/state.pickle"})


def test_the_bot_api_url_setting_reaches_python_telegram_bot() -> None:
    settings = load_settings({**GOOD, "SHUZHI_TELEGRAM_API_URL": "http://127.0.0.1:8081"})
    app = build_application(
        settings, FakePortal(), request=FakeTelegram(), get_updates_request=FakeTelegram()
    )
    assert app.bot.base_url == f"http://127.0.0.1:8081/bot{GOOD['SHUZHI_TELEGRAM_TOKEN']}"
    assert app.bot.base_file_url == f"http://127.0.0.1:8081/file/bot{GOOD['SHUZHI_TELEGRAM_TOKEN']}"


SECRET = "s3cret-token-for-tests_0123456789"


async def test_webhook_checks_the_secret_and_feeds_updates(
    telegram: FakeTelegram, portal: FakePortal
) -> None:
    app = build_application(bot_settings(), portal, request=telegram, get_updates_request=telegram)
    update = {
        "update_id": 77,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": 55, "type": "private"},
            "from": {"id": 55, "is_bot": False, "first_name": "Lin", "language_code": "en"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    async with app:
        await app.start()
        server = WebhookServer(
            app,
            asyncio.get_running_loop(),
            host="127.0.0.1",
            port=0,
            secret=SECRET,
            path="/telegram",
        )
        server.start()
        try:
            url = f"http://127.0.0.1:{server.port}/telegram"
            async with httpx.AsyncClient() as client:
                wrong = await client.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1] + "x"}
                )
                missing = await client.post(url, json=update)
                non_ascii = await client.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "秘密".encode()}
                )
                elsewhere = await client.post(
                    url + "x", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                )
                garbage = await client.post(
                    url,
                    content=b"{",
                    headers={
                        "X-Telegram-Bot-Api-Secret-Token": SECRET,
                        "Content-Type": "application/json",
                    },
                )
                assert [
                    wrong.status_code,
                    missing.status_code,
                    non_ascii.status_code,
                    elsewhere.status_code,
                    garbage.status_code,
                ] == [403, 403, 403, 404, 400]
                await asyncio.sleep(0.2)
                assert telegram.sent("sendMessage") == []
                right = await client.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                )
                assert right.status_code == 200
                again = await client.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                )
                assert again.status_code == 200  # Telegram retried: accepted, handled once
            for _ in range(50):
                if telegram.sent("sendMessage"):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
        finally:
            server.stop()
            await app.stop()
    sent = telegram.sent("sendMessage")
    assert len(sent) == 1 and "How I can help" in sent[0].text and sent[0].params["chat_id"] == 55


def test_the_webhook_uses_a_constant_time_comparison() -> None:
    source = (ROOT / "bot" / "webhook.py").read_text()
    assert "hmac.compare_digest(token, self.secret)" in source and "!= self.secret" not in source
