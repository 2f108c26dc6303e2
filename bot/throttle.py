"""Honour Telegram's flood control: on 429 wait ``retry_after`` seconds and send again."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger(__name__)


def retry_after_seconds(error: RetryAfter) -> float:
    """``error.retry_after`` in seconds, whichever type this python-telegram-bot version uses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class RetryAfterLimiter(BaseRateLimiter[None]):
    """React only when needed (PTB's approach 1): every Bot API call that gets 429 waits the
    ``retry_after`` Telegram asked for and is retried, at most ``max_retries`` times."""

    def __init__(
        self, *, max_retries: int = 3, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        self.max_retries = max_retries
        self._sleep = sleep

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> Any:
        attempt = 0
        while True:
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                if attempt >= self.max_retries:
                    raise
                attempt += 1
                delay = retry_after_seconds(error)
                log.warning("Telegram flood control on %s: waiting %.1f s", endpoint, delay)
                await self._sleep(delay + 0.1)
