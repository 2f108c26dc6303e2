"""Text normalisation: NFKC, full/half width, punctuation and whitespace, invisible characters."""

from __future__ import annotations

import functools
import re
import unicodedata

from nlp.errors import MAX_TEXT_CHARS, EmptyText, TextTooLong

# Punctuation that NFKC leaves alone but that residents type in many variants.
_PUNCT_MAP = str.maketrans(
    {
        "“": '"',
        "”": '"',
        "„": '"',
        "‟": '"',
        "〝": '"',
        "〞": '"',
        "「": '"',
        "」": '"',
        "『": '"',
        "』": '"',
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "【": "[",
        "】": "]",
        "〔": "[",
        "〕": "]",
        "〖": "[",
        "〗": "]",
        "—": "-",
        "–": "-",
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "―": "-",
        "−": "-",
        "─": "-",
        "⋯": "...",
        "…": "...",
        "·": "·",
        "•": "·",
        "・": "·",
        "〜": "~",
        "～": "~",
        "\t": " ",
    }
)
_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x85\v\f]")
_SPACES = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NL = re.compile(r" *\n *")
_MANY_NL = re.compile(r"\n{3,}")
_REPEATED_PUNCT = re.compile(r"([!?.,~。])\1{3,}")
# Removed outright: control characters (Cc, except \n), format characters (Cf: zero-width
# space/joiners, bidi controls, BOM, soft hyphen, tag characters) and unpaired surrogates
# (Cs, from bad decoding). The class is spelled out (Unicode 15) because asking
# unicodedata about every character is slow; a test checks it against unicodedata.
INVISIBLE = re.compile(
    "[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f"
    "\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ud800-\udfff\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


@functools.lru_cache(maxsize=2048)
def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _NEWLINES.sub("\n", text)
    text = text.translate(_PUNCT_MAP)
    text = INVISIBLE.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_AROUND_NL.sub("\n", text)
    text = _MANY_NL.sub("\n\n", text)
    text = _REPEATED_PUNCT.sub(r"\1\1\1", text)
    return text.strip()


def normalize(text: str) -> str:
    """Return the canonical form of a resident's message.

    NFKC first (full-width letters, digits and punctuation become half-width, the
    ideographic space becomes a space, compatibility forms such as ① become 1), then
    quote/dash/bracket variants are unified, control and zero-width characters are
    removed, runs of spaces collapse to one, line breaks are kept (at most one blank
    line), and runs of four or more identical punctuation marks are shortened to three.
    Emoji are kept as they are (they are harmless to everything downstream).
    """
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")
    # Memoised: one message is normalised by several steps of the pipeline in turn.
    return _normalize(text)


def validate(text: object) -> str:
    """Check a message against the engine's limits and return its normalised form.

    Raises:
        TypeError: ``text`` is not a string.
        TextTooLong: more than :data:`MAX_TEXT_CHARS` characters.
        EmptyText: nothing left after normalisation.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise TextTooLong(f"text has {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    normalized = normalize(text)
    if not normalized:
        raise EmptyText("text is empty")
    return normalized
