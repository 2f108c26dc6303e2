"""Bot test fixtures: the bot built with a fake Telegram and a fake portal, and a resident who
chats with it (updates built the way Telegram sends them)."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.app import build_application
from bot.i18n import locale_for_language_code, translator
from bot.runtime import BotApplication
from bot.settings import Settings
from tests.bot.fakes import FakePortal, FakeTelegram

_update_ids = itertools.count(1)


def bot_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_token": "123:TEST",
        "portal_url": "http://portal.test",
        "api_key": "shz_testtesttest",
    }
    values.update(overrides)
    return Settings(**values)


class Resident:
    """A Telegram user talking to the bot: each method feeds one update and returns the calls
    the bot made in answer."""

    def __init__(
        self,
        app: BotApplication,
        telegram: FakeTelegram,
        user_id: int = 4242,
        language_code: str = "en",
        first_name: str = "Lin",
    ) -> None:
        self.app = app
        self.telegram = telegram
        self.user = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": language_code,
        }
        self._message_ids = itertools.count(1)

    def t(self, msgid: str, **params: Any) -> str:
        """``msgid`` as this resident sees it (their Telegram language)."""
        return translator(locale_for_language_code(str(self.user["language_code"])))(
            msgid, **params
        )

    @property
    def id(self) -> int:
        return int(self.user["id"])

    def _message(self, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": self.id, "type": "private"},
            "from": self.user,
            **content,
        }

    async def feed(self, payload: dict[str, Any], update_id: int | None = None) -> list[Any]:
        before = len(self.telegram.calls)
        data = {"update_id": update_id if update_id is not None else next(_update_ids), **payload}
        await self.app.process_update(Update.de_json(data, self.app.bot))
        return self.telegram.calls[before:]

    async def say(self, text: str, **extra: Any) -> list[Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return await self.feed({"message": self._message(**content, **extra)})

    async def send(self, **content: Any) -> list[Any]:
        return await self.feed({"message": self._message(**content)})

    async def photo(self, file_id: str = "p1") -> list[Any]:
        sizes = [
            {
                "file_id": f"{file_id}-small",
                "file_unique_id": f"{file_id}s",
                "width": 90,
                "height": 60,
                "file_size": 900,
            },
            {
                "file_id": file_id,
                "file_unique_id": f"{file_id}l",
                "width": 1280,
                "height": 960,
                "file_size": 90000,
            },
        ]
        self.telegram.files[f"photos/{file_id}.jpg"] = b"\xff\xd8\xff" + file_id.encode() + b"jpeg"
        return await self.send(photo=sizes)

    async def location(self, lat: float, lon: float) -> list[Any]:
        return await self.send(location={"latitude": lat, "longitude": lon})

    async def share_contact(
        self, phone: str = "13800138000", user_id: int | None = None
    ) -> list[Any]:
        return await self.send(
            contact={
                "phone_number": phone,
                "first_name": "Lin",
                "user_id": self.id if user_id is None else user_id,
            }
        )

    async def press(self, data: str, update_id: int | None = None) -> list[Any]:
        query = {
            "id": str(next(_update_ids)),
            "from": self.user,
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": self.id, "type": "private"},
                "from": {"id": 999, "is_bot": True, "first_name": "Shuzhi"},
                "text": "…",
            },
        }
        return await self.feed({"callback_query": query}, update_id=update_id)

    def last_buttons(self) -> list[tuple[str, str]]:
        for call in reversed(self.telegram.calls):
            if call.buttons:
                return call.buttons
        return []

    def button(self, label_part: str) -> str:
        """Callback data of the most recent button whose label contains ``label_part``."""
        for call in reversed(self.telegram.calls):
            for label, data in call.buttons:
                if label_part in label and data:
                    return data
        raise AssertionError(f"no button like {label_part!r}; sent: {self.telegram.texts()[-3:]}")


def texts(calls: list[Any]) -> str:
    """Everything the bot said (messages, edits, callback answers) in these calls, joined."""
    return "\n".join(str(c.params.get("text", "")) for c in calls)


@pytest.fixture
def telegram() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
def portal() -> FakePortal:
    return FakePortal()


@pytest.fixture
def state_file(tmp_path: Path) -> Path | None:
    return None


@pytest.fixture
async def bot_app(
    telegram: FakeTelegram, portal: FakePortal, state_file: Path | None
) -> AsyncIterator[BotApplication]:
    app = build_application(
        bot_settings(state_file=state_file), portal, request=telegram, get_updates_request=telegram
    )
    async with app:
        yield app


@pytest.fixture
def resident(bot_app: BotApplication, telegram: FakeTelegram) -> Resident:
    return Resident(bot_app, telegram)
