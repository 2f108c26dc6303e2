"""Log redaction: no log record leaves the process carrying a secret or a personal identifier.

Installed once per process as a ``logging`` record factory, so it applies to every logger and
handler (including third-party libraries and pytest's capture) before any formatting happens.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"

#: (pattern, replacement) applied in order to the fully formatted message and exception text.
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Credentials: bearer tokens, API keys, key material, password/secret/token assignments.
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + REDACTED),
    (re.compile(r"\bshz_[A-Za-z0-9_-]{8,}"), REDACTED),
    (
        re.compile(
            r"(?i)\b(password|passwd|secret|token|api[_-]?key|hash_key|data_keys?)"
            r"(['\"]?\s*[:=]\s*['\"]?)[^\s'\",;&]+"
        ),
        r"\1\2" + REDACTED,
    ),
    (re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])"), REDACTED),
    # Channel identities (telegram:<id>).
    (re.compile(r"(?i)\b(telegram)\s*[:：]\s*\d{3,20}"), r"\1:" + REDACTED),
    # Resident identity card numbers (18 digits, last may be X; and the old 15-digit form).
    (re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"), REDACTED),
    (re.compile(r"(?<!\d)\d{15}(?!\d)"), REDACTED),
    # Mobile numbers (optionally +86, with spaces or dashes) and landlines with an area code.
    (re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d){8}(?!\d)"), REDACTED),
    (re.compile(r"(?<!\d)0\d{2,3}[ -]\d{7,8}(?!\d)"), REDACTED),
    # E-mail addresses.
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), REDACTED),
)


def redact(text: str) -> str:
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_installed = False


def install_log_redaction() -> None:
    """Wrap the process's log record factory (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the template only
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(formatter.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
