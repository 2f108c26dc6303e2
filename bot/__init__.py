"""The Shuzhi Telegram bot: residents report, follow and rate their cases in a chat.

A client of the portal's ``/api/v1`` (see :mod:`bot.gateway`); it holds no database credentials
and imports nothing from ``portal``. Start it with ``python -m bot`` (see :mod:`bot.__main__`).
"""
