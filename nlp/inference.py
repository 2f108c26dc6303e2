"""Fast inference for fitted feature unions and linear heads.

scikit-learn's input validation and scipy's sparse-matrix machinery cost more per call
than the arithmetic for one message. These classes read the fitted parameters once and
redo the same computation on one message at a time with plain numpy: a message is a
:class:`Row` (sorted column indices and their values), and a linear head's scores are the
values times the rows of the weight matrix at those columns. ``tests/nlp`` checks that
features, scores and probabilities agree with scikit-learn.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's _VectorizerMixin._white_spaces


class Row(NamedTuple):
    """One message's features: ascending column indices and their values."""

    indices: np.ndarray
    values: np.ndarray


_EMPTY = Row(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))


def char_ngrams(text: str, low: int, high: int) -> list[str]:
    """scikit-learn's ``analyzer="char"`` n-grams (same multiset, without a Python-level
    loop per character): n-grams of length n are those of length n-1 plus one character."""
    text = _WHITE_SPACES.sub(" ", text)
    grams: list[str] = list(text) if low <= 1 else []
    previous: Any = text
    for n in range(2, high + 1):
        previous = list(map(operator.add, previous, text[n - 1 :]))
        if n >= low:
            grams.extend(previous)
    return grams


def _fast_analyzer(vec: Any) -> Callable[[str], list[str]]:
    """The vectorizer's analyzer; a faster equivalent for the two shapes the engine uses
    (a callable tokenizer over unigrams; character n-grams after a callable preprocessor)."""
    plain = (
        vec.input == "content"
        and not vec.lowercase
        and vec.strip_accents is None
        and vec.stop_words is None
    )
    if plain and vec.analyzer == "char" and callable(vec.preprocessor) and vec.tokenizer is None:
        pre, (low, high) = vec.preprocessor, vec.ngram_range
        return lambda text: char_ngrams(pre(text), low, high)
    if (
        plain
        and vec.analyzer == "word"
        and callable(vec.tokenizer)
        and vec.preprocessor is None
        and tuple(vec.ngram_range) == (1, 1)
    ):
        return vec.tokenizer
    return vec.build_analyzer()


class CompiledFeatures:
    """The transform of a fitted ``FeatureUnion`` of ``TfidfVectorizer`` blocks."""

    def __init__(self, union: Any):
        weights = union.transformer_weights or {}
        self.blocks = []
        offset = 0
        for name, vec in union.transformer_list:
            if vec.norm not in ("l2", None) or not vec.use_idf:
                raise ValueError(f"unsupported vectorizer settings in block {name!r}")
            self.blocks.append(
                (
                    _fast_analyzer(vec),
                    vec.vocabulary_,
                    np.asarray(vec.idf_, dtype=np.float64),
                    float(weights.get(name, 1.0)),
                    offset,
                    vec.sublinear_tf,
                    vec.norm == "l2",
                    bool(vec.binary),
                )
            )
            offset += len(vec.vocabulary_)
        self.n_features = offset  # width of the union (the columns' upper bound)

    def row(self, text: str) -> Row:
        """The features of one document."""
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        for analyzer, vocab, idf, weight, offset, sublinear, l2, binary in self.blocks:
            tokens = analyzer(text)
            if not tokens:
                continue
            found = np.fromiter(
                map(vocab.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens)
            )
            idx, tf = np.unique(found[found >= 0], return_counts=True)
            if not len(idx):
                continue
            tf = tf.astype(np.float64)
            if binary:
                tf[:] = 1.0
            elif sublinear:
                tf = np.log(tf) + 1.0
            v = tf * idf[idx]
            if l2:
                norm = np.sqrt(np.dot(v, v))
                if norm > 0:
                    v /= norm
            if weight != 1.0:
                v *= weight
            cols.append(idx + offset)
            vals.append(v)
        if not cols:
            return _EMPTY
        if len(cols) == 1:
            return Row(cols[0], vals[0])
        return Row(np.concatenate(cols), np.concatenate(vals))

    def rows(self, texts: Sequence[str]) -> list[Row]:
        return [self.row(t) for t in texts]


def rows_of(x: sp.spmatrix) -> list[Row]:
    """The rows of a sparse feature matrix (such as ``FeatureUnion.transform`` gives)."""
    x = sp.csr_matrix(x)
    x.sort_indices()
    ptr = x.indptr
    return [
        Row(x.indices[ptr[i] : ptr[i + 1]].astype(np.int64), x.data[ptr[i] : ptr[i + 1]])
        for i in range(x.shape[0])
    ]


def _expit_neg(z: np.ndarray) -> np.ndarray:
    """``expit(-z)`` without overflow warnings."""
    return np.exp(-np.logaddexp(0.0, z))


class CompiledHead:
    """Decision scores and (calibrated) probabilities of a fitted linear classifier or
    a ``CalibratedClassifierCV`` over one (sigmoid-calibrated) linear classifier per fold.

    ``columns`` limits the head to the first columns of the features (the category head
    reads the word block only)."""

    def __init__(self, clf: Any, columns: int | None = None):
        self.classes = [str(c) for c in clf.classes_]
        self.columns = columns
        self.members: list[tuple[Any, ...]] = []
        if hasattr(clf, "calibrated_classifiers_"):
            if clf.method != "sigmoid":
                raise ValueError("only sigmoid calibration is supported")
            for cc in clf.calibrated_classifiers_:
                est = cc.estimator
                pos = [self.classes.index(str(c)) for c in est.classes_]
                a = np.array([cal.a_ for cal in cc.calibrators], dtype=np.float64)
                b = np.array([cal.b_ for cal in cc.calibrators], dtype=np.float64)
                self.members.append((self._weights(est), self._intercept(est), a, b, pos))
            self.calibrated = True
        else:
            self.members.append((self._weights(clf), self._intercept(clf), None, None, None))
            self.calibrated = False

    @staticmethod
    def _weights(est: Any) -> np.ndarray:
        # features × classes, C order: the rows at a message's columns are one gather.
        # The stored dtype is kept (float32 after ``compact``); products are float64.
        coef = est.coef_
        coef = coef.toarray() if sp.issparse(coef) else np.asarray(coef)
        return np.ascontiguousarray(coef.T)

    @staticmethod
    def _intercept(est: Any) -> np.ndarray:
        return np.atleast_1d(np.asarray(est.intercept_, dtype=np.float64))

    def _rows(self, rows: Sequence[Row]) -> Sequence[Row]:
        if self.columns is None:
            return rows
        out = []
        for r in rows:
            cut = int(np.searchsorted(r.indices, self.columns))
            out.append(Row(r.indices[:cut], r.values[:cut]))
        return out

    @staticmethod
    def _decision(rows: Sequence[Row], member: tuple[Any, ...]) -> np.ndarray:
        w, intercept = member[0], member[1]
        d = np.empty((len(rows), w.shape[1]), dtype=np.float64)
        for i, (idx, vals) in enumerate(rows):
            d[i] = vals @ w[idx] if len(idx) else 0.0
        return d + intercept

    def decision(self, rows: Sequence[Row]) -> np.ndarray:
        """One column per class (two for a binary head), uncalibrated scores."""
        d = self._decision(self._rows(rows), self.members[0])
        if d.shape[1] == 1:
            d = np.hstack([-d, d])
        return d

    def proba(self, rows: Sequence[Row]) -> np.ndarray:
        """Calibrated probabilities, or a softmax of the scores for an uncalibrated head."""
        if not self.calibrated:
            d = self.decision(rows)
            e = np.exp(d - d.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        rows = self._rows(rows)
        n, k = len(rows), len(self.classes)
        mean = np.zeros((n, k))
        for member in self.members:
            d = self._decision(rows, member)
            a, b, pos = member[2], member[3], member[4]
            p = _expit_neg(a * d + b)
            proba = np.zeros((n, k))
            if k == 2:
                proba[:, 1] = p[:, 0]
                proba[:, 0] = 1.0 - proba[:, 1]
            else:
                proba[:, pos] = p
                den = proba.sum(axis=1, keepdims=True)
                proba = np.divide(proba, den, out=np.full_like(proba, 1.0 / k), where=den != 0)
                proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
            mean += proba
        return mean / len(self.members)

    def predict(self, rows: Sequence[Row]) -> list[str]:
        scores = self.proba(rows) if self.calibrated else self.decision(rows)
        return [self.classes[j] for j in scores.argmax(axis=1)]
