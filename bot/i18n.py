"""Bot texts in the resident's language, from the project's gettext catalogues (``locales/``).

Handlers bind ``_ = translator(locale)`` and write English msgids; ``N_`` marks module-level
labels for extraction (``pybabel extract`` reads ``bot/**.py``, see ``babel.cfg``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

DEFAULT_LOCALE = "zh_Hans_CN"
LOCALES = ("zh_Hans_CN", "en")
LOCALES_DIR = Path(__file__).resolve().parents[1] / "locales"
_configured_dir: Path | None = None
#: Names of the languages in themselves, for the /language buttons.
LANGUAGE_NAMES = {"zh_Hans_CN": "中文", "en": "English"}

Translate = Callable[..., str]


def N_(message: str) -> str:
    """Mark a module-level string for extraction; translate it later with ``_()``."""
    return message


def locale_for_language_code(language_code: str | None) -> str:
    """Telegram's ``language_code`` → our locale: Chinese for ``zh*``, English otherwise."""
    return "zh_Hans_CN" if (language_code or "").lower().startswith("zh") else "en"


@lru_cache(maxsize=16)
def _translations(locales_dir: Path, locale: str) -> NullTranslations:
    return Translations.load(str(locales_dir), [locale], domain="messages")


def use_locales_dir(locales_dir: Path | None) -> None:
    """Read catalogues from ``locales_dir`` (``SHUZHI_LOCALES_DIR``) instead of ``locales/``."""
    global _configured_dir
    _configured_dir = locales_dir


def translator(locale: str | None, locales_dir: Path | None = None) -> Translate:
    """``_(msgid, **params)``: the translation of ``msgid`` in ``locale`` with ``%(name)s`` filled."""
    folder = locales_dir or _configured_dir or LOCALES_DIR
    catalogue = _translations(folder, locale if locale in LOCALES else DEFAULT_LOCALE)

    def translate(message: str, **params: Any) -> str:
        text = catalogue.gettext(message)
        return text % params if params else text

    return translate


def accept_language(locale: str | None) -> str:
    """The ``Accept-Language`` value that makes the portal answer in ``locale``."""
    return "en" if locale == "en" else "zh-CN,zh;q=0.9"
