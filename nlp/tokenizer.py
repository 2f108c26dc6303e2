"""jieba tokenisation with the civic user dictionary and stop words, loaded once and lazily.

The module-level functions here (:func:`tokenize`, :func:`model_text`) are referenced by
saved pipelines; skops is told to trust them by name (see :data:`TRUSTED_FUNCTIONS`).
"""

from __future__ import annotations

import functools
import logging
import math
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
    return _shared()[0]


def get_segmenter() -> Segmenter:
    """The shared :class:`Segmenter` over :func:`get_tokenizer`'s dictionary."""
    return _shared()[1]


def _shared() -> tuple[Any, Segmenter]:
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
                _tokenizer = (tok, Segmenter(tok))
    return _tokenizer


class Segmenter:
    """jieba's accurate mode with HMM (``Tokenizer.lcut(text)``), same words, faster.

    jieba builds a dict of word-end lists per block (``get_DAG``), then takes a ``max``
    over a generator of tuples per character, recomputing ``log(freq)`` for every
    candidate (``calc``). Here the two passes are one right-to-left loop over a table of
    precomputed log probabilities (one dict lookup per candidate instead of three), and
    the HMM's Viterbi pass over runs of unknown characters is memoised. The arithmetic
    and the tie-breaking are jieba's own, so the words are identical: ``tests/nlp``
    compares the two on the seed corpus, the real messages when present, and generated
    text. Words added to the jieba tokenizer after construction are not seen.
    """

    _PREFIX_ONLY = None  # table value of a dictionary prefix that is not itself a word

    def __init__(self, tok: Any):
        from jieba import finalseg, re_han_default, re_skip_default

        logtotal = math.log(tok.total)
        # jieba scores a candidate as log(FREQ.get(w) or 1) - logtotal + route[next]
        self._logp: dict[str, float | None] = {
            w: (math.log(f) - logtotal if f else self._PREFIX_ONLY) for w, f in tok.FREQ.items()
        }
        self._single = math.log(1) - logtotal
        self._han, self._skip = re_han_default, re_skip_default
        self._hmm = functools.lru_cache(maxsize=16384)(lambda run: tuple(finalseg.cut(run)))

    def clear_cache(self) -> None:
        self._hmm.cache_clear()

    def cut(self, text: str) -> list[str]:
        """The words of ``text``, in order, exactly as ``jieba.Tokenizer.lcut(text)``."""
        out: list[str] = []
        han, skip = self._han, self._skip
        for blk in han.split(text):
            if not blk:
                continue
            if han.match(blk):
                self._block(blk, out)
            else:
                for x in skip.split(blk):
                    if skip.match(x):
                        out.append(x)
                    else:
                        out.extend(x)
        return out

    def _block(self, s: str, out: list[str]) -> None:
        n = len(s)
        logp, single, missing = self._logp, self._single, _MISSING
        score = [0.0] * (n + 1)
        end = list(range(n))
        for k in range(n - 1, -1, -1):
            best = None
            i = k
            frag = s[k]
            while True:
                lp = logp.get(frag, missing)
                if lp is missing:
                    break
                if lp is not None:
                    c = lp + score[i + 1]
                    if best is None or c >= best:  # ties: jieba's max() keeps the longer word
                        best = c
                        end[k] = i
                i += 1
                if i >= n:
                    break
                frag = s[k : i + 1]
            score[k] = single + score[k + 1] if best is None else best
        buf = ""
        x = 0
        while x < n:
            y = end[x] + 1
            if y - x == 1:
                buf += s[x]
            else:
                if buf:
                    self._unknown_run(buf, out)
                    buf = ""
                out.append(s[x:y])
            x = y
        if buf:
            self._unknown_run(buf, out)

    def _unknown_run(self, buf: str, out: list[str]) -> None:
        # jieba: a run of single characters goes through the HMM unless it is a known word
        if len(buf) == 1:
            out.append(buf)
        elif self._logp.get(buf) is None:  # not a word (absent, or a prefix only)
            out.extend(self._hmm(buf))
        else:
            out.extend(buf)


_MISSING = object()


@functools.cache
def stopwords() -> frozenset[str]:
    """The shipped stop-word list."""
    return frozenset(
        w.strip() for w in STOPWORDS_FILE.read_text(encoding="utf-8").splitlines() if w.strip()
    )


@functools.lru_cache(maxsize=256)
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
        for w in get_segmenter().cut(_clean(text))
        if w not in stop and _KEEP_TOKEN.search(w)
    )


def clear_caches() -> None:
    """Forget memoised segmentations (for honest timings of the cold path)."""
    from nlp.textnorm import _normalize

    _cut.cache_clear()
    _clean.cache_clear()
    _normalize.cache_clear()
    if _tokenizer is not None:
        _tokenizer[1].clear_cache()


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
        for w in get_segmenter().cut(_clean(text)):
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
