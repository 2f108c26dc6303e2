"""Domain errors raised by services; views map them once to HTML pages, JSON bodies or bot replies."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class. ``code`` is stable (API clients rely on it); ``message`` is for people."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class ValidationError(DomainError):
    code = "invalid"
    http_status = 422

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message, field=field, **details)
        self.field = field


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class PermissionDenied(DomainError):
    code = "forbidden"
    http_status = 403


class InvalidTransition(DomainError):
    code = "invalid_transition"
    http_status = 409


class Conflict(DomainError):
    """Someone else changed the same thing first (concurrent accept, duplicate submission)."""

    code = "conflict"
    http_status = 409
