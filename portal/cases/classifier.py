"""The process-wide NLP model used by intake (loaded once per model folder)."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_models: dict[str, Any] = {}


def get_model(model_dir: str | None = None) -> Any:
    """The default classifier for ``model_dir`` (default: the app's ``NLP_MODEL_DIR``).

    Trained from the seed corpus by ``nlp.default_model`` if the folder holds no model yet;
    cached per process so each worker loads it once.
    """
    if model_dir is None:
        from flask import current_app

        model_dir = str(current_app.config["NLP_MODEL_DIR"])
    model = _models.get(model_dir)
    if model is None:
        with _lock:
            model = _models.get(model_dir)
            if model is None:
                import nlp

                model = nlp.default_model(model_dir)
                _models[model_dir] = model
    return model
