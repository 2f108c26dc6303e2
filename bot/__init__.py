"""The Shuzhi Telegram bot: residents report, follow and rate their cases in a chat.

A client of the portal's ``/api/v1`` (see :mod:`bot.gateway`); it holds no database credentials
and imports nothing from ``portal``. Start it with ``python -m bot`` (see :mod:`bot.__main__`).

Where things are: ``settings`` (environment), ``app`` (``build_application``: handlers, duplicate
filter, errors, background loops), ``reporting`` + ``drafts`` + ``details`` + ``submission`` (the
report conversation, its draft, place/photos/phone/summary, sending and outage retry),
``lookup`` (``/status``, my cases), ``notifications`` (feed poller, verdict buttons),
``proposals`` (proposals nearby, support, comments, ``/verify``), ``cards`` (message texts),
``menu`` (buttons in every language), ``i18n`` (gettext catalogues), ``throttle`` (Telegram 429),
``webhook`` (webhook server), ``recent`` (bounded id memory), ``runtime`` (Application + chat state).
"""

from __future__ import annotations

import os

# Opt in to python-telegram-bot's future behaviour (durations as ``timedelta``) so that reading
# ``RetryAfter.retry_after`` does not warn; :func:`bot.throttle.retry_after_seconds` takes both.
os.environ.setdefault("PTB_TIMEDELTA", "true")
