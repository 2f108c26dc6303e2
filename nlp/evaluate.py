"""Stratified k-fold evaluation of the group pipeline."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from nlp.corpus import Example

COVERAGES = (0.9, 0.8, 0.7)


def coverage_accuracy(correct: Sequence[bool], confidence: Sequence[float]) -> dict[str, float]:
    """Accuracy on the most confident 90%, 80% and 70% of the messages."""
    order = sorted(range(len(correct)), key=lambda i: -confidence[i])
    out = {}
    for cov in COVERAGES:
        k = max(1, round(cov * len(order)))
        out[f"{cov:.1f}"] = round(sum(correct[i] for i in order[:k]) / k, 4)
    return out


def time_single_predictions(model: Any, texts: Sequence[str], limit: int = 300) -> dict[str, float]:
    """Median and 95th-percentile latency (ms) of ``model.predict`` on one message at a
    time, with the tokeniser's memos cleared so the segmenter really runs."""
    from nlp.tokenizer import clear_caches

    clear_caches()
    timings, cpu = [], []
    for t in list(texts)[:limit]:
        started, started_cpu = time.perf_counter(), time.process_time()
        model.predict(t)
        cpu.append((time.process_time() - started_cpu) * 1000)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    cpu.sort()

    def p95(xs: list[float]) -> float:
        return round(xs[min(len(xs) - 1, int(0.95 * len(xs)))], 3)

    return {
        "predict_ms_p50": round(statistics.median(timings), 3),
        "predict_ms_p95": p95(timings),
        # CPU time: what the message costs even when other processes share the cores
        "predict_cpu_ms_p50": round(statistics.median(cpu), 3),
        "predict_cpu_ms_p95": p95(cpu),
    }


def evaluate(
    examples: Sequence[Example], *, folds: int = 5, seed: int = 0, progress: bool = False
) -> dict[str, Any]:
    """Train and test the group pipeline in stratified k-fold CV; one summary dict."""
    import numpy as np
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
    from sklearn.model_selection import StratifiedKFold

    from nlp.model import Classifier, build_pipeline
    from nlp.progress import steps
    from nlp.textnorm import validate

    texts = [validate(e.text) for e in examples]
    y = np.array([e.group for e in examples])
    labels = sorted(set(y))
    pred = np.empty(len(y), dtype=object)
    conf = np.zeros(len(y))
    fit_seconds, fit_cpu = [], []
    pipe = None
    test_idx: Any = None
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with steps(range(folds), enabled=progress, desc="evaluate") as bar:
        for train_idx, test_idx in splitter.split(texts, y):
            pipe = build_pipeline(list(y[train_idx]))
            started, started_cpu = time.perf_counter(), time.process_time()
            pipe.fit([texts[i] for i in train_idx], y[train_idx])
            fit_seconds.append(time.perf_counter() - started)
            fit_cpu.append(time.process_time() - started_cpu)
            proba = pipe.predict_proba([texts[i] for i in test_idx])
            classes = pipe.classes_
            pred[test_idx] = classes[proba.argmax(axis=1)]
            conf[test_idx] = proba.max(axis=1)
            bar.update()
    assert pipe is not None
    pred_list = [str(p) for p in pred]
    report = classification_report(y, pred_list, labels=labels, output_dict=True, zero_division=0)
    model = Classifier(
        pipe.named_steps["features"],
        {"group": pipe.named_steps["clf"]},
        {"model_version": "evaluation"},
    )
    timing = time_single_predictions(model, [texts[i] for i in test_idx])
    return {
        "rows": len(y),
        "folds": folds,
        "labels": labels,
        "macro_f1": round(float(f1_score(y, pred_list, labels=labels, average="macro")), 4),
        "accuracy": round(float(accuracy_score(y, pred_list)), 4),
        "per_class": {
            lab: {k: round(float(report[lab][k]), 4) for k in ("precision", "recall", "f1-score")}
            | {"support": int(report[lab]["support"])}
            for lab in labels
        },
        "confusion": {
            "labels": labels,
            "matrix": confusion_matrix(y, pred_list, labels=labels).tolist(),
        },
        "coverage_accuracy": coverage_accuracy(list(pred == y), list(conf)),
        "fit_seconds": round(float(np.mean(fit_seconds)), 2),
        "fit_seconds_total": round(float(np.sum(fit_seconds)), 2),
        "fit_cpu_seconds": round(float(np.mean(fit_cpu)), 2),
        **timing,
    }
