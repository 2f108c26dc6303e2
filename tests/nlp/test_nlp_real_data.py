"""Optional checks on the real Teddy Cup 2020 messages (skipped when ../shared/data is absent).
The full figures come from ``bench/nlp.py``; these are quick floors that catch a broken
pipeline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(
    os.environ.get("SHUZHI_EVAL_DATA")
    or Path(__file__).resolve().parents[2].parent / "shared" / "data"
)
SAMPLE = DATA / "teddy2020_messages_sample495.csv"

pytestmark = pytest.mark.skipif(not SAMPLE.is_file(), reason=f"no evaluation data at {DATA}")


@pytest.fixture(scope="module")
def sample():
    from nlp.corpus import read_examples

    return read_examples(SAMPLE, "text", "label")


def test_pipeline_learns_the_real_labels(sample):
    from nlp.evaluate import evaluate

    result = evaluate(sample, folds=2)
    assert result["rows"] == len(sample) >= 400
    assert result["macro_f1"] > 0.75
    assert result["coverage_accuracy"]["0.7"] >= result["accuracy"]


def test_default_model_on_real_messages(default_model, sample):
    from sklearn.metrics import f1_score

    truth = [e.group for e in sample]
    preds = [p.group for p in default_model.predict_many([e.text for e in sample])]
    present = sorted(set(truth))
    assert f1_score(truth, preds, labels=present, average="macro") > 0.5
