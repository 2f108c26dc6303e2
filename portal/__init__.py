"""Shuzhi portal: the Flask application factory. No work happens at import time."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from portal.config import PROJECT_ROOT, load_settings
from portal.db import Database
from portal.errors import DomainError
from portal.extensions import babel, csrf, limiter, login_manager, select_locale
from portal.privacy import install_privacy
from portal.system_messages import event_note

#: Feature packages whose ``views`` module defines a blueprint ``bp``; each registers itself here.
FEATURES = (
    "portal.accounts",
    "portal.cases",
    "portal.api",
    "portal.open311",
    "portal.workbench",
    "portal.deliberation",
    "portal.admin",
    "portal.audit",
    "portal.privacy",
    "portal.oversight",
    "portal.hotspots",
)

#: Feature packages whose ``cli`` module defines ``register(app)`` for ``flask --app portal ...``.
CLI_FEATURES = ("portal.cli", "portal.api.cli", "portal.workbench.cli", "portal.deliberation.cli", "portal.audit.cli",
                "portal.privacy.cli", "portal.oversight.cli",
                "portal.hotspots.cli")

log = logging.getLogger(__name__)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    settings = load_settings(test_config)
    app = Flask(__name__, instance_path=settings["INSTANCE_PATH"], instance_relative_config=False)
    app.config.update(settings)
    if not app.config.get("MAX_CONTENT_LENGTH"):  # Flask's default is None (no limit at all)
        app.config["MAX_CONTENT_LENGTH"] = 3 * settings["MAX_PHOTO_BYTES"] + 1024 * 1024
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")  # dates shown to people
    app.config["BABEL_DEFAULT_LOCALE"] = "zh_Hans_CN"
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(PROJECT_ROOT / "locales")
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    app.config.setdefault("RATELIMIT_ENABLED", True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    install_privacy(app)  # data key ring (sensitive columns) and log redaction
    database = Database(settings["DATABASE_URL"])
    app.extensions["db"] = database

    babel.init_app(app, locale_selector=select_locale)
    # What an event says, in the reader's language (system messages) or as a person wrote it.
    app.add_template_global(event_note, "event_note")
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    app.config["RATELIMIT_STORAGE_URI"] = settings["RATELIMIT_STORAGE_URI"]
    limiter.init_app(app)

    @app.teardown_appcontext
    def _remove_session(exc: BaseException | None) -> None:
        if exc is not None:
            database.session.rollback()
        database.session.remove()

    @app.after_request
    def _security_headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
        )
        return response

    _register_error_handlers(app)
    nav_providers = []
    for feature in FEATURES:
        module = importlib.import_module(f"{feature}.views")
        app.register_blueprint(module.bp)
        if hasattr(module, "nav_items"):
            nav_providers.append(module.nav_items)

    @app.context_processor
    def _navigation() -> dict[str, Any]:
        """``extra_nav_items()`` in templates: links each feature offers the current user.

        A feature's ``views.nav_items()`` returns ``[NavItem(label, url), ...]`` (empty when the
        current user may not use it)."""

        def extra_nav_items() -> list[Any]:
            return [item for provider in nav_providers for item in provider()]

        return {"extra_nav_items": extra_nav_items}
    for feature in CLI_FEATURES:
        importlib.import_module(feature).register(app)
    return app


def get_session() -> Session:
    """The request's (or CLI command's) session. The edge commits once; services only flush."""
    from flask import current_app

    return current_app.extensions["db"].session()


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/open311/")) or (
        request.accept_mimetypes.best == "application/json"
    )


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError) -> Any:
        get_session().rollback()
        if wants_json():
            body = {"code": error.code, "message": error.message}
            return jsonify(body), error.http_status
        return render_template("error.html", code=error.http_status, message=error.message), (
            error.http_status
        )

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        if wants_json():
            return jsonify({"code": (error.name or "error").lower().replace(" ", "_"),
                            "message": error.description}), error.code
        return render_template("error.html", code=error.code, message=error.description), error.code

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        get_session().rollback()
        g.error_logged = True
        if wants_json():
            return jsonify({"code": "server_error", "message": "Internal server error"}), 500
        return render_template("error.html", code=500, message=None), 500
