"""``python -m bot`` as a real process, talking to a fake Bot API server over HTTP
(``SHUZHI_TELEGRAM_API_URL``), in long-polling and in webhook mode."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ROOT = Path(__file__).parents[2]
TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi"
SECRET = "webhook-secret-for-the-test_0123456789"
BOT = {"id": 999, "is_bot": True, "first_name": "Shuzhi", "username": "shuzhi_bot"}


def start_update(update_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": 8080, "type": "private"},
            "from": {"id": 8080, "is_bot": False, "first_name": "Lin", "language_code": "en"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


class BotApiServer:
    """Telegram's Bot API over HTTP, minimal: records calls, serves one /start by getUpdates."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.updates = [start_update(1)]
        self._server = make_server("127.0.0.1", 0, self, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        method = request.path.rsplit("/", 1)[-1]
        assert request.path.startswith(f"/bot{TOKEN}/"), request.path
        raw = request.get_data(as_text=True)
        if request.mimetype == "application/json":
            params = json.loads(raw or "{}")
        else:
            params = dict(parse_qsl(raw))
        self.calls.append((method, params))
        result: Any = True
        if method == "getMe":
            result = BOT
        elif method == "getUpdates":
            result, self.updates = self.updates, []
            if not result:
                time.sleep(0.2)
        elif method == "sendMessage":
            result = {
                "message_id": len(self.calls),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT,
                "text": params.get("text", ""),
            }
        body = json.dumps({"ok": True, "result": result})
        return Response(body, content_type="application/json")(environ, start_response)

    def sent(self) -> list[dict[str, Any]]:
        return [params for method, params in self.calls if method == "sendMessage"]

    def __enter__(self) -> BotApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()


@pytest.fixture
def bot_api() -> Iterator[BotApiServer]:
    with BotApiServer() as server:
        yield server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_bot(bot_api: BotApiServer, *args: str, **env: str) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHUZHI_")}
    clean.update(
        SHUZHI_TELEGRAM_TOKEN=TOKEN,
        SHUZHI_TELEGRAM_API_URL=bot_api.url,
        SHUZHI_PORTAL_URL="http://127.0.0.1:9",  # not reachable: only a warning at start
        SHUZHI_BOT_API_KEY="shz_abcdefgh12345678",
        **env,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        env=clean,
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(condition: Any, process: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"the bot exited early: {process.communicate()[1][-2000:]}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"timed out; stderr: {process.communicate()[1][-2000:]}")


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0, stderr[-2000:]
    return stderr


def test_long_polling_answers_start_through_the_configured_bot_api(bot_api: BotApiServer) -> None:
    process = start_bot(bot_api)
    wait_for(lambda: bot_api.sent(), process)
    stderr = stop(process)
    (greeting,) = bot_api.sent()
    assert greeting["chat_id"] == "8080" and "Hello, Lin!" in greeting["text"]
    assert "the portal is not reachable yet" in stderr
    assert any(method == "deleteWebhook" for method, _ in bot_api.calls)


def test_webhook_mode_registers_the_secret_and_takes_updates(
    bot_api: BotApiServer, tmp_path: Path
) -> None:
    port = free_port()
    process = start_bot(
        bot_api,
        "--webhook",
        SHUZHI_TELEGRAM_WEBHOOK_URL="https://shuzhi.example.org/telegram",
        SHUZHI_TELEGRAM_WEBHOOK_SECRET=SECRET,
        SHUZHI_TELEGRAM_WEBHOOK_LISTEN=f"127.0.0.1:{port}",
        SHUZHI_BOT_STATE_FILE=str(tmp_path / "state.pickle"),
    )
    wait_for(lambda: any(m == "setWebhook" for m, _ in bot_api.calls), process)
    (registered,) = [p for m, p in bot_api.calls if m == "setWebhook"]
    assert registered["url"] == "https://shuzhi.example.org/telegram"
    assert registered["secret_token"] == SECRET
    endpoint = f"http://127.0.0.1:{port}/telegram"
    wait_for(lambda: _listening(port), process)
    refused = httpx.post(
        endpoint, json=start_update(5), headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
    )
    assert refused.status_code == 403
    accepted = httpx.post(
        endpoint, json=start_update(6), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert accepted.status_code == 200
    wait_for(lambda: bot_api.sent(), process)
    stop(process)
    assert len(bot_api.sent()) == 1
    state = tmp_path / "state.pickle"
    assert state.exists()  # state written on the way out, for the bot's user only
    assert state.stat().st_mode & 0o077 == 0


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
