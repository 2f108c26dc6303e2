"""Where a sign-in (or a language switch) may send the browser next: this site only."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from flask import request


def safe_next_url(target: str | None) -> str | None:
    """``target`` as a relative URL if it stays on this site, else None.

    Accepts relative paths (``/cases?page=2``) and absolute URLs on the request's own host; refuses
    other hosts, scheme-relative ``//host`` forms, backslash tricks and control characters.
    """
    if not target or len(target) > 2000:
        return None
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("http", "https") or parts.netloc != request.host:
            return None
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//"):
        return None
    return target
