"""Errors raised by the NLP engine and the input limits it enforces."""

from __future__ import annotations

MAX_TEXT_CHARS = 5000
"""The longest message (in characters, before normalisation) the engine accepts."""


class NlpError(Exception):
    """Base class of the engine's errors."""


class EmptyText(NlpError, ValueError):
    """The text is empty or only whitespace/control characters."""


class TextTooLong(NlpError, ValueError):
    """The text is longer than :data:`MAX_TEXT_CHARS`."""


class ModelLoadError(NlpError):
    """A model artifact is missing, damaged or built with another library version."""


class CorpusError(NlpError, ValueError):
    """Training data could not be read (missing file, missing column, no rows)."""
