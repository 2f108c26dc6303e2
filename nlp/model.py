"""The classifier: feature pipeline, task heads, training, persistence and prediction."""

from __future__ import annotations

import json
import os
import platform
import re
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nlp.corpus import Example
from nlp.errors import ModelLoadError
from nlp.textnorm import validate
from nlp.urgency import detect_urgency, more_urgent

RECIPE_VERSION = "6"
"""Bumped whenever the features or heads change; a default model of another recipe is rebuilt."""
MODEL_FILE = "model.skops"
META_FILE = "metadata.json"
FORMAT = 1
EXPLAIN_TERMS = 5
EMERGENCY_MODEL_MIN_P = 0.6
MODEL_REASON = "模型判断"
SVM_C = 0.5
"""LinearSVC regularisation: 0.5 beat 1 and 2 in 5-fold CV on the real messages."""
ENSEMBLE = False
"""Calibration: one SVM on all data + sigmoid from cross-validated scores (``False``), or
the average of the k fold models (``True``, k times the artifact size)."""


@dataclass(frozen=True)
class Prediction:
    """What the engine says about one message."""

    group: str
    category: str | None
    kind: str
    urgency: str
    confidence: float
    explanation: list[str]
    model_version: str
    group_scores: dict[str, float] = field(default_factory=dict)
    urgency_reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- building


def build_features(n_docs: int = 10_000) -> Any:
    """The shared feature union: jieba words, character 1–3-grams, and the opening 40
    characters (the subject line) as character 1–2-grams at half weight."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    from nlp.tokenizer import head_text, model_text, tokenize

    min_df = 2 if n_docs >= 300 else 1
    common = {"sublinear_tf": True, "min_df": min_df, "lowercase": False, "dtype": _float32()}
    return FeatureUnion(
        [
            ("word", TfidfVectorizer(tokenizer=tokenize, token_pattern=None, **common)),
            (
                "char",
                TfidfVectorizer(
                    preprocessor=model_text, analyzer="char", ngram_range=(1, 3), **common
                ),
            ),
            (
                "head",
                TfidfVectorizer(
                    preprocessor=head_text, analyzer="char", ngram_range=(1, 2), **common
                ),
            ),
        ],
        transformer_weights={"word": 1.0, "char": 1.0, "head": 0.5},
    )


def _float32() -> Any:
    import numpy as np

    return np.float32


def build_head(
    labels: Sequence[str], *, calibrated: bool = True, c: float = SVM_C, ensemble: bool = ENSEMBLE
) -> Any:
    """A linear SVM; wrapped in sigmoid calibration (k-fold cross-validated) when every
    class has at least two examples."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    svm = LinearSVC(C=c)
    smallest = min(Counter(labels).values())
    if calibrated and smallest >= 2 and len(set(labels)) >= 2:
        return CalibratedClassifierCV(svm, method="sigmoid", cv=min(5, smallest), ensemble=ensemble)
    return svm


def compact(estimator: Any) -> Any:
    """Store the linear weights of a fitted head (and of its calibration folds) as
    float32: halves the artifact, changes scores by less than 1e-6."""
    import numpy as np

    inner = [cc.estimator for cc in getattr(estimator, "calibrated_classifiers_", [])]
    for est in [estimator, *inner]:
        if hasattr(est, "coef_") and not hasattr(est.coef_, "toarray"):
            est.coef_ = np.ascontiguousarray(est.coef_, dtype=np.float32)
    return estimator


def build_pipeline(labels: Sequence[str]) -> Any:
    """The group pipeline (features + calibrated linear SVM) as used by ``evaluate``."""
    from sklearn.pipeline import Pipeline

    return Pipeline([("features", build_features(len(labels))), ("clf", build_head(labels))])


def _word_block(features: Any, x: Any) -> Any:
    """The columns of the word features (the first block of the union): the category head
    uses only these, which keeps its many classes small."""
    width = len(features.transformer_list[0][1].vocabulary_)
    return x[:, :width]


# --------------------------------------------------------------------------- kind rules

_PRAISE = re.compile(
    r"表扬|点赞|锦旗|好评|赞扬|称赞|为.{1,12}点个?赞|感谢.{0,20}(?:及时|辛苦|负责|热心|帮助|解决)|辛苦了|太给力"
)
_PROPOSAL = re.compile(
    r"建议|提议|倡议|呼吁|希望(?:能|可以|政府|有关部门)?(?:增设|增加|设立|开通|修建|建设|安装|规划)|能否(?:增设|增加|开通|设立)|提个?意见|献策"
)
_INQUIRY = re.compile(
    r"请问|咨询|想问|问一下|想了解|是否|能不能|可不可以|可以吗|怎么办理|如何办理|怎么申请|如何申请|需要什么|多久|什么时候|哪里可以|吗[?？]?$|[?？]\s*$"
)


def kind_by_rules(text: str) -> str:
    """Fallback kind when the model has no kind head: praise, proposal, inquiry, complaint."""
    if _PRAISE.search(text):
        return "praise"
    if _PROPOSAL.search(text):
        return "proposal"
    if _INQUIRY.search(text):
        return "inquiry"
    return "complaint"


# --------------------------------------------------------------------------- the classifier


def _linear_weights(clf: Any) -> tuple[Any, Any]:
    """(coef, classes) of a linear head, averaged over a calibration ensemble."""
    import numpy as np

    if hasattr(clf, "calibrated_classifiers_"):
        coef = np.mean([cc.estimator.coef_ for cc in clf.calibrated_classifiers_], axis=0)
    else:
        coef = clf.coef_
    classes = clf.classes_
    if coef.shape[0] == 1 and len(classes) == 2:
        coef = np.vstack([-coef[0], coef[0]])
    return np.asarray(coef, dtype=np.float32), classes


class Classifier:
    """A trained model: the shared features and one head per task.

    ``heads`` maps task names to fitted estimators: ``group`` (always), ``category``
    (labels ``"group/category"``, on the word block only), ``kind`` and ``urgency``
    (each optional). Prediction runs through :mod:`nlp.inference`, which reproduces
    scikit-learn's arithmetic without its per-call overhead.
    """

    def __init__(self, features: Any, heads: dict[str, Any], metadata: dict[str, Any]):
        import numpy as np

        from nlp.inference import CompiledFeatures, CompiledHead

        self.features = features
        self.heads = {k: v for k, v in heads.items() if v is not None}
        self.metadata = metadata
        self.version: str = metadata.get("model_version", "unversioned")
        self._x = CompiledFeatures(features)
        word_width = len(features.transformer_list[0][1].vocabulary_)
        self._word_width = word_width
        self._compiled = {
            task: CompiledHead(clf, columns=word_width if task == "category" else None)
            for task, clf in self.heads.items()
        }
        self._coef, _ = _linear_weights(self.heads["group"])
        self._group_list = self._compiled["group"].classes
        self._names: Any = None
        self._cat_by_group: dict[str, Any] = {}
        if "category" in self._compiled:
            by_group: dict[str, list[int]] = {}
            for i, c in enumerate(self._compiled["category"].classes):
                by_group.setdefault(c.split("/", 1)[0], []).append(i)
            self._cat_by_group = {g: np.array(ix) for g, ix in by_group.items()}

    # -- public

    @property
    def labels(self) -> list[str]:
        """The groups this model knows, in score order."""
        return list(self._group_list)

    @property
    def pipeline(self) -> Any:
        """The group task as one scikit-learn ``Pipeline`` (features + calibrated head)."""
        from sklearn.pipeline import Pipeline

        return Pipeline([("features", self.features), ("clf", self.heads["group"])])

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        """Predictions for many messages; raises EmptyText/TextTooLong on the first bad one."""
        normalized = [validate(t) for t in texts]
        if not normalized:
            return []
        rows = self._x.rows(normalized)
        proba = self._compiled["group"].proba(rows)
        best = proba.argmax(axis=1)
        kinds = self._compiled["kind"].predict(rows) if "kind" in self._compiled else None
        urg_labels, urg_emergency = self._urgency_model(rows)
        cats = self._categories(rows, best)
        out = []
        for i, text in enumerate(normalized):
            rule_level, reasons = detect_urgency(text)
            level = rule_level
            if urg_labels is not None:
                model_level = urg_labels[i]
                if model_level == "emergency" and (
                    urg_emergency is None or urg_emergency[i] < EMERGENCY_MODEL_MIN_P
                ):
                    model_level = "urgent"
                if more_urgent(model_level, rule_level) != rule_level:
                    reasons = [*reasons, MODEL_REASON]
                level = more_urgent(level, model_level)
            row = rows[i]
            out.append(
                Prediction(
                    group=self._group_list[best[i]],
                    category=cats[i],
                    kind=kinds[i] if kinds is not None else kind_by_rules(text),
                    urgency=level,
                    confidence=round(float(proba[i, best[i]]), 4),
                    explanation=self._explain(row.indices, row.values, int(best[i])),
                    model_version=self.version,
                    group_scores={
                        g: round(float(p), 4)
                        for g, p in zip(self._group_list, proba[i], strict=True)
                    },
                    urgency_reasons=reasons,
                )
            )
        return out

    def group_proba(self, texts: Sequence[str]) -> Any:
        """Calibrated group probabilities (rows: texts, columns: :attr:`labels`)."""
        return self._compiled["group"].proba(self._x.rows([validate(t) for t in texts]))

    # -- internals

    def _urgency_model(self, rows: Any) -> tuple[list[str] | None, Any]:
        head = self._compiled.get("urgency")
        if head is None:
            return None, None
        if not head.calibrated:
            return head.predict(rows), None
        p = head.proba(rows)
        labels = [head.classes[j] for j in p.argmax(axis=1)]
        em = p[:, head.classes.index("emergency")] if "emergency" in head.classes else None
        return labels, em

    def _categories(self, rows: Any, best: Any) -> list[str | None]:
        head = self._compiled.get("category")
        if head is None:
            return [None] * len(rows)
        d = head.decision(rows)
        out: list[str | None] = []
        for i in range(len(rows)):
            ix = self._cat_by_group.get(self._group_list[best[i]])
            if ix is None:
                out.append(None)
                continue
            j = ix[d[i, ix].argmax()]
            out.append(head.classes[j].split("/", 1)[1])
        return out

    def _feature_names(self) -> Any:
        if self._names is None:
            import numpy as np

            names: list[str] = []
            for _, vec in self.features.transformer_list:
                block = [""] * len(vec.vocabulary_)
                for term, j in vec.vocabulary_.items():
                    block[j] = term
                names.extend(block)
            self._names = np.array(names, dtype=object)
        return self._names

    def _explain(self, indices: Any, data: Any, k: int) -> list[str]:
        """The words of the message that pushed hardest towards class ``k``.

        Contributions are feature value × the linear weight for ``k``, over the word block
        only: jieba words read well on the transparency page, character n-grams such as
        "议在" do not (they still count in the decision itself).
        """
        words = indices < self._word_width
        indices, data = indices[words], data[words]
        if len(indices) == 0:
            return []
        contrib = data * self._coef[k, indices]
        order = contrib.argsort()[::-1]
        names = self._feature_names()
        terms: list[str] = []
        for j in order:
            if contrib[j] <= 0 or len(terms) >= EXPLAIN_TERMS:
                break
            term = str(names[indices[j]]).strip()
            if len(term) < 2 or term.isdigit() or not term.isalnum():
                continue
            terms.append(term)
        return terms

    def _group_list_predict(self, x: Any) -> list[str]:
        from nlp.inference import rows_of

        proba = self._compiled["group"].proba(rows_of(x))
        return [self._group_list[j] for j in proba.argmax(axis=1)]


# --------------------------------------------------------------------------- training


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("scikit-learn", "skops", "numpy", "scipy", "jieba"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:  # pragma: no cover
            out[dist] = "absent"
    return out


def train(
    examples: Sequence[Example],
    *,
    data_sha256: str,
    source: str,
    name: str = "custom",
    progress: bool = False,
) -> Classifier:
    """Fit the features and every head for which the examples carry labels."""
    from nlp.progress import steps

    if len({e.group for e in examples}) < 2:
        raise ValueError("training needs at least two groups")
    texts = [validate(e.text) for e in examples]
    groups = [e.group for e in examples]
    started = time.perf_counter()
    tasks = ["features", "group", "category", "kind", "urgency"]
    heads: dict[str, Any] = {}
    with steps(tasks, enabled=progress, desc="train") as bar:
        features = build_features(len(texts))
        x = features.fit_transform(texts)
        bar.update()
        heads["group"] = compact(build_head(groups).fit(x, groups))
        bar.update()
        for task in ("category", "kind", "urgency"):
            idx = [i for i, e in enumerate(examples) if getattr(e, task)]
            if task == "category":
                labels = [f"{examples[i].group}/{examples[i].category}" for i in idx]
                xt = _word_block(features, x)[idx]
            else:
                labels = [getattr(examples[i], task) for i in idx]
                xt = x[idx]
            if len(set(labels)) >= 2:
                calibrated = task == "urgency"
                with warnings.catch_warnings():
                    # many categories with few examples each is expected for a small corpus
                    warnings.filterwarnings("ignore", message="The number of unique classes")
                    head = build_head(labels, calibrated=calibrated).fit(xt, labels)
                heads[task] = compact(head)
            bar.update()
    fit_seconds = time.perf_counter() - started
    created = datetime.now(UTC)
    model_version = f"{name}-{created:%Y%m%d%H%M%S}-{data_sha256[:8]}"
    clf = Classifier(features, heads, {})
    train_acc = float(
        sum(p == g for p, g in zip(clf._group_list_predict(x), groups, strict=True)) / len(groups)
    )
    metadata = {
        "format": FORMAT,
        "recipe": RECIPE_VERSION,
        "model_version": model_version,
        "created_at": created.isoformat(timespec="seconds"),
        "source": source,
        "training_data_sha256": data_sha256,
        "training_rows": len(examples),
        "libraries": _versions(),
        "labels": {
            "group": clf.labels,
            **{
                t: [str(c) for c in heads[t].classes_]
                for t in ("category", "kind", "urgency")
                if t in heads
            },
        },
        "group_counts": dict(sorted(Counter(groups).items())),
        "calibrated": hasattr(heads["group"], "calibrated_classifiers_"),
        "metrics": {"fit_seconds": round(fit_seconds, 2), "train_accuracy": round(train_acc, 4)},
    }
    clf.metadata = metadata
    clf.version = model_version
    return clf


# --------------------------------------------------------------------------- persistence


def save_model(model: Classifier, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``model.skops`` and ``metadata.json`` into ``out_dir`` (created if needed)."""
    import skops.io as sio

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # skops writes dicts as JSON objects, one per entry: a vocabulary of 100k n-grams would
    # make a schema of tens of megabytes that loads slowly. Each vocabulary goes out as one
    # array of terms in column order instead, and is rebuilt on load.
    vocabularies = {}
    saved = {}
    for name, vec in model.features.transformer_list:
        saved[name] = vec.vocabulary_
        vocabularies[name] = _terms_array(vec.vocabulary_)
        vec.vocabulary_ = {}
    payload = {
        "format": FORMAT,
        "features": model.features,
        "vocabularies": vocabularies,
        "heads": dict(model.heads),
    }
    tmp = out / (MODEL_FILE + ".tmp")
    try:
        sio.dump(payload, tmp)
    finally:
        for name, vec in model.features.transformer_list:
            vec.vocabulary_ = saved[name]
    os.replace(tmp, out / MODEL_FILE)
    meta = dict(model.metadata)
    meta["artifact_bytes"] = (out / MODEL_FILE).stat().st_size
    model.metadata = meta
    tmp_meta = out / (META_FILE + ".tmp")
    tmp_meta.write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp_meta, out / META_FILE)
    return out


def _terms_array(vocabulary: dict[str, int]) -> Any:
    import numpy as np

    terms = [""] * len(vocabulary)
    for term, i in vocabulary.items():
        terms[i] = term
    return np.array(terms, dtype=str)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    p = Path(path)
    if p.is_file():
        p = p.parent
    try:
        return json.loads((p / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _allowed_type(name: str) -> bool:
    return (
        name.startswith(("sklearn.", "numpy.", "scipy.", "builtins.", "collections."))
        or name in _trusted_functions()
    )


def _trusted_functions() -> list[str]:
    from nlp.tokenizer import TRUSTED_FUNCTIONS

    return TRUSTED_FUNCTIONS


def load_model(path: str | os.PathLike[str]) -> Classifier:
    """Load a model directory written by :func:`save_model` (or ``python -m nlp train``).

    Raises:
        ModelLoadError: missing or damaged files, or an artifact built with another
            scikit-learn version (with the command that rebuilds it).
    """
    import sklearn

    p = Path(path)
    if p.is_file():
        p = p.parent
    meta = read_metadata(p)
    if meta is None or not (p / MODEL_FILE).is_file():
        raise ModelLoadError(
            f"no model in {p} (expected {MODEL_FILE} and {META_FILE}): "
            f"train one with `python -m nlp train --data FILE.csv --out {p}`"
        )
    built = meta.get("libraries", {}).get("scikit-learn")
    if built != sklearn.__version__:
        raise ModelLoadError(
            f"the model in {p} was built with scikit-learn {built}, this is "
            f"{sklearn.__version__}: retrain with `python -m nlp train --data FILE.csv "
            f"--text-col text --label-col label --out {p}` (the default model retrains "
            f"itself: delete the directory or call nlp.default_model())"
        )
    import skops.io as sio

    file = p / MODEL_FILE
    try:
        untrusted = sio.get_untrusted_types(file=file)
        refused = [t for t in untrusted if not _allowed_type(t)]
        if refused:
            raise ModelLoadError(f"{file} contains types that are not trusted: {refused}")
        payload = sio.load(file, trusted=untrusted)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"cannot read {file}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelLoadError(f"{file} is not a model of format {FORMAT}: retrain it")
    features = payload["features"]
    for name, vec in features.transformer_list:
        vec.vocabulary_ = {str(t): i for i, t in enumerate(payload["vocabularies"][name])}
    model = Classifier(features, payload["heads"], meta)
    model._feature_names()
    from nlp.tokenizer import get_tokenizer

    get_tokenizer()
    return model
