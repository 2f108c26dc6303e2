"""Fast inference for fitted feature unions and linear heads.

scikit-learn's input validation costs several milliseconds per call, far more than the
arithmetic for one message. These classes read the fitted parameters once and redo the
same computation with plain numpy; ``tests/nlp`` checks they agree with scikit-learn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp


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
                    vec.build_analyzer(),
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
        self.n_features = offset

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(column indices, values) of one document."""
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        for analyzer, vocab, idf, weight, offset, sublinear, l2, binary in self.blocks:
            counts: dict[int, int] = {}
            for tok, n in Counter(analyzer(text)).items():
                j = vocab.get(tok)
                if j is not None:
                    counts[j] = n
            if not counts:
                continue
            idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
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
            return np.empty(0, dtype=np.int64), np.empty(0)
        c, v = np.concatenate(cols), np.concatenate(vals)
        order = np.argsort(c)
        return c[order], v[order]

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        indptr = [0]
        cols, vals = [], []
        for text in texts:
            c, v = self.row(text)
            cols.append(c)
            vals.append(v)
            indptr.append(indptr[-1] + len(c))
        return sp.csr_matrix(
            (
                np.concatenate(vals) if vals else np.empty(0),
                np.concatenate(cols) if cols else np.empty(0, dtype=np.int64),
                np.asarray(indptr),
            ),
            shape=(len(texts), self.n_features),
        )


def _expit_neg(z: np.ndarray) -> np.ndarray:
    """``expit(-z)`` without overflow warnings."""
    return np.exp(-np.logaddexp(0.0, z))


class CompiledHead:
    """Decision scores and (calibrated) probabilities of a fitted linear classifier or
    a ``CalibratedClassifierCV`` over one (sigmoid-calibrated) linear classifier per fold."""

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
                self.members.append((self._weights(est), np.asarray(est.intercept_), a, b, pos))
            self.calibrated = True
        else:
            self.members.append((self._weights(clf), np.asarray(clf.intercept_), None, None, None))
            self.calibrated = False

    @staticmethod
    def _weights(est: Any) -> Any:
        # float64, like the features: scipy would otherwise upcast the whole matrix per call
        coef = est.coef_
        if sp.issparse(coef):
            return coef.T.tocsr().astype(np.float64)
        return np.ascontiguousarray(coef.T, dtype=np.float64)

    def _x(self, x: sp.csr_matrix) -> sp.csr_matrix:
        return x[:, : self.columns] if self.columns is not None else x

    def _decision(self, x: sp.csr_matrix, member: tuple[Any, ...]) -> np.ndarray:
        w, intercept = member[0], member[1]
        d = x @ w
        d = np.asarray(d.toarray() if sp.issparse(d) else d, dtype=np.float64) + intercept
        return d

    def decision(self, x: sp.csr_matrix) -> np.ndarray:
        """One column per class (two for a binary head), uncalibrated scores."""
        d = self._decision(self._x(x), self.members[0])
        if d.shape[1] == 1:
            d = np.hstack([-d, d])
        return d

    def proba(self, x: sp.csr_matrix) -> np.ndarray:
        """Calibrated probabilities, or a softmax of the scores for an uncalibrated head."""
        x = self._x(x)
        n, k = x.shape[0], len(self.classes)
        if not self.calibrated:
            d = self.decision(x) if self.columns is None else self._decision(x, self.members[0])
            if d.shape[1] == 1:
                d = np.hstack([-d, d])
            e = np.exp(d - d.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        mean = np.zeros((n, k))
        for member in self.members:
            d = self._decision(x, member)
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

    def predict(self, x: sp.csr_matrix) -> list[str]:
        scores = self.proba(x) if self.calibrated else self.decision(x)
        return [self.classes[j] for j in scores.argmax(axis=1)]
