"""The transparency page publishes per-group accuracy from the evaluation `ensure-model` writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from portal.cli import publish_evaluation


def test_ensure_model_publishes_a_per_group_evaluation(
    tmp_path: Path, model_dir: Path, make_app: Any
) -> None:
    own_model = tmp_path / "model"
    shutil.copytree(model_dir, own_model)
    (own_model / "evaluation.json").unlink(missing_ok=True)
    app = make_app(NLP_MODEL_DIR=str(own_model))
    import nlp

    version = nlp.default_model(own_model).version
    publish_evaluation(own_model, version, folds=2)
    report = json.loads((own_model / "evaluation.json").read_text(encoding="utf-8"))
    assert report["model_version"] == version and report["folds"] == 2
    assert len(report["per_class"]) == 15 and 0.5 < report["accuracy"] <= 1.0
    written = (own_model / "evaluation.json").stat().st_mtime_ns
    publish_evaluation(own_model, version, folds=2)  # same model: not evaluated again
    assert (own_model / "evaluation.json").stat().st_mtime_ns == written

    html = app.test_client().get("/transparency?lang=en").get_data(as_text=True)
    assert "2-fold cross-validation" in html
    assert "城乡建设" in html and "No evaluation of this model has been published yet" not in html
