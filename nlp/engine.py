"""The default model (trained from the seed corpus on first use) and the intake analysis."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.errors import ModelLoadError
from nlp.model import RECIPE_VERSION, Classifier, Prediction, load_model, read_metadata
from nlp.pii import PiiSpan, mask_pii
from nlp.textnorm import validate

ENV_MODEL_DIR = "SHUZHI_NLP_MODEL_DIR"
_cache: dict[str, Classifier] = {}
_cache_lock = threading.Lock()


def default_model_dir() -> Path:
    """``$SHUZHI_NLP_MODEL_DIR``, else ``$XDG_CACHE_HOME/shuzhi/nlp-model`` (``~/.cache``)."""
    env = os.environ.get(ENV_MODEL_DIR)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "shuzhi" / "nlp-model"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (a no-op where fcntl does not exist)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _fresh(meta: dict[str, Any] | None, fingerprint: str) -> bool:
    import sklearn

    return bool(
        meta
        and meta.get("training_data_sha256") == fingerprint
        and meta.get("recipe") == RECIPE_VERSION
        and meta.get("libraries", {}).get("scikit-learn") == sklearn.__version__
    )


def train_default(out_dir: str | os.PathLike[str], *, progress: bool = False) -> Classifier:
    """Train the default model from the seed corpus and write it to ``out_dir``
    atomically (built in a sibling temporary directory, then renamed into place)."""
    from nlp.corpus import seed_examples, seed_fingerprint
    from nlp.model import save_model, train

    out = Path(out_dir)
    fingerprint = seed_fingerprint()
    model = train(
        seed_examples(),
        data_sha256=fingerprint,
        source="seed corpus",
        name="seed",
        progress=progress,
    )
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(model, tmp)
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
    return model


def default_model(model_dir: str | os.PathLike[str] | None = None) -> Classifier:
    """The default model, loaded from ``model_dir`` (see :func:`default_model_dir`).

    It is (re)trained from the seed corpus when missing, when the seed corpus changed
    since it was built (SHA-256 in ``metadata.json``), or when it was built by another
    scikit-learn or feature recipe. Two processes doing this at once are serialised by a
    lock file beside the directory. The loaded model is cached per path in this process.
    """
    from nlp.corpus import seed_fingerprint

    path = Path(model_dir) if model_dir is not None else default_model_dir()
    path = path.expanduser().resolve()
    key = str(path)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        fingerprint = seed_fingerprint()
        model: Classifier | None = None
        if _fresh(read_metadata(path), fingerprint):
            with contextlib.suppress(ModelLoadError):
                model = load_model(path)
        if model is None:
            with _file_lock(path.parent / f".{path.name}.lock"):
                if _fresh(read_metadata(path), fingerprint):
                    model = load_model(path)
                else:
                    train_default(path)
                    model = load_model(path)
        _cache[key] = model
        return model


def clear_cache() -> None:
    """Forget the in-process default models (tests; after retraining)."""
    with _cache_lock:
        _cache.clear()


@dataclass(frozen=True)
class Analysis:
    """Everything intake needs about one message."""

    normalized: str
    masked_text: str
    pii: list[PiiSpan]
    prediction: Prediction

    def to_dict(self) -> dict[str, Any]:
        return {
            "normalized": self.normalized,
            "masked_text": self.masked_text,
            "pii": [s.to_dict() for s in self.pii],
            "prediction": self.prediction.to_dict(),
        }


def analyse(text: str, model: Classifier | None = None) -> Analysis:
    """Normalise, mask and classify one message (the call the portal makes at intake).

    PII offsets refer to ``normalized``. Raises EmptyText or TextTooLong for bad input.
    """
    normalized = validate(text)
    masked = mask_pii(normalized)
    prediction = (model or default_model()).predict(normalized)
    return Analysis(normalized, masked.text, masked.spans, prediction)
