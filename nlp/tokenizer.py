"""jieba tokenisation with the civic user dictionary and stop words, loaded once and lazily.

The module-level functions here (:func:`tokenize`, :func:`model_text`) are referenced by
saved pipelines; skops is told to trust them by name (see :data:`TRUSTED_FUNCTIONS`).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlp.textnorm import normalize

DATA_DIR = Path(__file__).with_name("data")
CIVIC_DICT = DATA_DIR / "civic_dict.txt"
STOPWORDS_FILE = DATA_DIR / "stopwords.txt"
TRUSTED_FUNCTIONS = [
    "nlp.tokenizer.tokenize",
    "nlp.tokenizer.model_text",
    "nlp.tokenizer.head_text",
]

_lock = threading.Lock()
_tokenizer: Any = None

# Greetings, sign-offs and anonymised place tokens that say nothing about the subject.
_BOILERPLATE = re.compile(
    r"(?:尊敬的)?(?:各位|亲爱的)?(?:[市区县镇乡]?(?:领导|书记|市长|区长|县长|局长|主任)(?:们)?)(?:同志)?(?:您|你)?好"
    r"|(?:您|你)们?好|尊敬的|此致|敬礼|谢谢|感谢您|非常感谢|麻烦了"
    r"|(?<![A-Za-z])[A-Z]\d*[市区县镇乡]"
)
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_KEEP_TOKEN = re.compile(r"[\w\u4e00-\u9fff]")


def _cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "shuzhi", "jieba")
    try:
        os.makedirs(path, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    return tempfile.gettempdir()


JIEBA_MIN_FREQ = 5
"""Words of jieba's main dictionary rarer than this are left out: the prefix dictionary
loads in a third of the time (rare words fall back to shorter ones, which the character
n-grams cover anyway)."""


def _trimmed_dictionary(cache_dir: str) -> str:
    """jieba's main dictionary without its rarest words, derived once into the cache."""
    import jieba

    source = os.path.join(os.path.dirname(jieba.__file__), "dict.txt")
    version = getattr(jieba, "__version__", "0")
    target = os.path.join(cache_dir, f"dict-{version}-min{JIEBA_MIN_FREQ}.txt")
    if not os.path.exists(target):
        with open(source, encoding="utf-8") as fh:
            kept = [line for line in fh if _freq(line) >= JIEBA_MIN_FREQ]
        tmp = f"{target}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as out:
            out.writelines(kept)
        os.replace(tmp, target)
    return target


def _freq(line: str) -> int:
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def get_tokenizer() -> Any:
    """The shared jieba ``Tokenizer`` with the civic dictionary (initialised on first use)."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                cache = _cache_dir()
                tok = jieba.Tokenizer(_trimmed_dictionary(cache))
                tok.tmp_dir = cache
                tok.initialize()
                with open(CIVIC_DICT, "rb") as fh:
                    tok.load_userdict(fh)
                _tokenizer = tok
    return _tokenizer


@functools.cache
def stopwords() -> frozenset[str]:
    """The shipped stop-word list."""
    return frozenset(
        w.strip() for w in STOPWORDS_FILE.read_text(encoding="utf-8").splitlines() if w.strip()
    )


def _clean(text: str) -> str:
    return _BOILERPLATE.sub(" ", normalize(text)).lower()


def model_text(text: str) -> str:
    """The text as the character n-grams see it: normalised, lower-case, greetings and
    anonymised place tokens (A市, A3区) removed, numbers replaced by ``0``."""
    return _DIGITS.sub("0", _clean(text))


@functools.lru_cache(maxsize=8192)
def _cut(text: str) -> tuple[str, ...]:
    stop = stopwords()
    return tuple(
        "0" if w.isdigit() else w
        for w in get_tokenizer().lcut(_clean(text))
        if w not in stop and _KEEP_TOKEN.search(w)
    )


def tokenize(text: str) -> list[str]:
    """Words of ``text`` for the classifier: normalised, greetings removed, jieba with
    the civic dictionary, stop words and punctuation dropped, numbers folded to ``0``."""
    return list(_cut(text))


@functools.cache
def _idf() -> tuple[dict[str, float], float]:
    """jieba's IDF table (word -> idf) and its median, read once without ``jieba.analyse``
    (whose import opens files it never closes)."""
    import jieba

    path = os.path.join(os.path.dirname(jieba.__file__), "analyse", "idf.txt")
    table: dict[str, float] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            word, _, value = line.strip().partition(" ")
            if value:
                table[word] = float(value)
    values = sorted(table.values())
    return table, values[len(values) // 2]


def top_terms(texts: Sequence[str], n: int = 8) -> list[str]:
    """Characteristic terms of a set of texts, most characteristic first.

    TF-IDF keywords in jieba's manner (term frequency across the texts times jieba's IDF,
    the median IDF for unknown words such as civic-dictionary terms), on words of two or
    more characters from the civic tokeniser, stop words and numbers removed.
    """
    if n <= 0:
        return []
    counts: Counter[str] = Counter()
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            continue
        for w in get_tokenizer().lcut(_clean(text)):
            if len(w) >= 2 and not w.isdigit() and w not in stopwords() and _KEEP_TOKEN.search(w):
                counts[w] += 1
    if not counts:
        return []
    idf, median = _idf()
    score = {w: c * idf.get(w, median) for w, c in counts.items()}
    return sorted(score, key=lambda w: (-score[w], w))[:n]


def head_text(text: str) -> str:
    """The opening of the message (its subject line, usually) as the classifier sees it."""
    return model_text(text)[:HEAD_CHARS]


HEAD_CHARS = 40
