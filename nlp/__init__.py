"""Shuzhi NLP engine: normalise, mask, tokenise, classify and compare residents' messages.

A pure library (no web framework, no database). Importing it is cheap: jieba, numpy and
scikit-learn are loaded on first use. The public names below resolve lazily.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from nlp.errors import (
    MAX_TEXT_CHARS,
    CorpusError,
    EmptyText,
    ModelLoadError,
    NlpError,
    TextTooLong,
)

_LAZY = {
    "normalize": "nlp.textnorm",
    "mask_pii": "nlp.pii",
    "MaskResult": "nlp.pii",
    "PiiSpan": "nlp.pii",
    "PII_KINDS": "nlp.pii",
    "tokenize": "nlp.tokenizer",
    "top_terms": "nlp.tokenizer",
    "detect_urgency": "nlp.urgency",
    "URGENCY_LEVELS": "nlp.urgency",
    "SimilarCandidate": "nlp.similarity",
    "SimilarMatch": "nlp.similarity",
    "find_similar": "nlp.similarity",
    "haversine_m": "nlp.similarity",
    "Catalogue": "nlp.catalogue",
    "catalogue": "nlp.catalogue",
    "load_catalogue": "nlp.catalogue",
    "Classifier": "nlp.model",
    "Prediction": "nlp.model",
    "load_model": "nlp.model",
    "save_model": "nlp.model",
    "train": "nlp.model",
    "default_model": "nlp.engine",
    "default_model_dir": "nlp.engine",
    "analyse": "nlp.engine",
    "Analysis": "nlp.engine",
    "KINDS": "nlp.corpus",
    "URGENCIES": "nlp.corpus",
    "Example": "nlp.corpus",
}

__all__ = [
    "KINDS",
    "MAX_TEXT_CHARS",
    "PII_KINDS",
    "URGENCIES",
    "URGENCY_LEVELS",
    "Analysis",
    "Catalogue",
    "Classifier",
    "CorpusError",
    "EmptyText",
    "Example",
    "MaskResult",
    "ModelLoadError",
    "NlpError",
    "PiiSpan",
    "Prediction",
    "SimilarCandidate",
    "SimilarMatch",
    "TextTooLong",
    "analyse",
    "catalogue",
    "default_model",
    "default_model_dir",
    "detect_urgency",
    "find_similar",
    "haversine_m",
    "load_catalogue",
    "load_model",
    "mask_pii",
    "normalize",
    "save_model",
    "tokenize",
    "top_terms",
    "train",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nlp' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from nlp.catalogue import Catalogue, catalogue, load_catalogue
    from nlp.corpus import KINDS, URGENCIES, Example
    from nlp.engine import Analysis, analyse, default_model, default_model_dir
    from nlp.model import Classifier, Prediction, load_model, save_model, train
    from nlp.pii import PII_KINDS, MaskResult, PiiSpan, mask_pii
    from nlp.similarity import SimilarCandidate, SimilarMatch, find_similar, haversine_m
    from nlp.textnorm import normalize
    from nlp.tokenizer import tokenize, top_terms
    from nlp.urgency import URGENCY_LEVELS, detect_urgency
