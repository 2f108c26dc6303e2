"""The Shuzhi Telegram bot: residents report, follow and rate their cases in a chat.

A client of the portal's ``/api/v1`` (see :mod:`bot.gateway`); it holds no database credentials
and imports nothing from ``portal``. Start it with ``python -m bot`` (see :mod:`bot.__main__`).
"""

from __future__ import annotations

import os

# Opt in to python-telegram-bot's future behaviour (durations as ``timedelta``) so that reading
# ``RetryAfter.retry_after`` does not warn; :func:`bot.throttle.retry_after_seconds` takes both.
os.environ.setdefault("PTB_TIMEDELTA", "true")
