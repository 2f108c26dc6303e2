"""Settings: one object per process, from defaults, an optional instance file and ``SHUZHI_*`` env vars."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"
INSECURE_SECRET_KEY = "dev-insecure-change-me"

#: Every setting with its default and a one-line description (the README's table is made from it).
SETTINGS: dict[str, tuple[Any, str]] = {
    "ENV": ("development", "development, production or testing"),
    "SECRET_KEY": (INSECURE_SECRET_KEY, "Session signing key; production refuses the default"),
    "DATABASE_URL": ("", "SQLAlchemy URL; default SQLite file instance/shuzhi.db"),
    "INSTANCE_PATH": ("", "Folder for the SQLite file, uploads and the model; default ./instance"),
    "NLP_MODEL_DIR": ("", "Folder of the classifier artifact; default <instance>/models/default"),
    "UPLOAD_DIR": ("", "Folder for photos; default <instance>/uploads"),
    "MAX_PHOTO_BYTES": (5 * 1024 * 1024, "Largest accepted photo"),
    "RATELIMIT_STORAGE_URI": ("memory://", "Flask-Limiter storage (redis://127.0.0.1:6379 in production)"),
    "PUBLIC_BASE_URL": ("http://127.0.0.1:5000", "Base URL used in links sent to residents"),
    "JURISDICTION_FILE": ("", "Demo jurisdiction YAML; default portal/jurisdiction/demo.yaml"),
    "SESSION_COOKIE_SECURE": (False, "Send the session cookie over HTTPS only"),
    "STATS_CACHE_SECONDS": (60, "Seconds a public dashboard figure is reused (per process, until the case data changes); 0 turns the cache off"),
    "DATA_KEYS": ("", "JSON {\"kid\": \"base64 32-byte key\"} encrypting sensitive columns; default <instance>/keys.json (not in production)"),
    "DATA_KEY_ACTIVE": ("", "Key id used for new encryptions (default: the last key id)"),
    "DATA_HASH_KEYS": ("", "JSON {\"h2\": \"base64 key (32+ bytes)\", \"h1\": …} of the keyed hashes used for phone / channel-id lookups; lookups try every key"),
    "DATA_HASH_KEY_ACTIVE": ("", "Hash key id used for new lookup hashes (default: the last hash key id)"),
    "DATA_HASH_KEY": ("", "Single lookup hash key of old (base64, 32+ bytes): the hash key h1, beside or instead of DATA_HASH_KEYS"),
}


class ConfigError(RuntimeError):
    """The settings cannot start the application; the message says what to change."""


def _coerce(value: str, default: Any) -> Any:
    if isinstance(default, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(value)
    return value


def load_settings(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge defaults, ``<instance>/settings.json``, ``SHUZHI_*`` env vars and test overrides."""
    values: dict[str, Any] = {key: default for key, (default, _) in SETTINGS.items()}
    instance = Path(os.environ.get("SHUZHI_INSTANCE_PATH") or DEFAULT_INSTANCE)
    instance_file = instance / "settings.json"
    if instance_file.is_file():
        values.update(json.loads(instance_file.read_text(encoding="utf-8")))
    for key, (default, _) in SETTINGS.items():
        env = os.environ.get(f"SHUZHI_{key}")
        if env is not None and env != "":
            values[key] = _coerce(env, default)
    values.update(overrides or {})
    instance = Path(values["INSTANCE_PATH"] or instance)
    values["INSTANCE_PATH"] = str(instance)
    values["DATABASE_URL"] = values["DATABASE_URL"] or f"sqlite:///{instance / 'shuzhi.db'}"
    values["NLP_MODEL_DIR"] = values["NLP_MODEL_DIR"] or str(instance / "models" / "default")
    values["UPLOAD_DIR"] = values["UPLOAD_DIR"] or str(instance / "uploads")
    values["JURISDICTION_FILE"] = values["JURISDICTION_FILE"] or str(
        Path(__file__).resolve().parent / "jurisdiction" / "demo.yaml"
    )
    if values["ENV"] == "production" and values["SECRET_KEY"] in ("", INSECURE_SECRET_KEY):
        raise ConfigError(
            "SHUZHI_SECRET_KEY is missing or still the development default: set it to a long "
            "random value (python -c 'import secrets; print(secrets.token_urlsafe(48))')."
        )
    return values
